/** In-memory endpoints and a controllable dialer for the agent's unit tests. */
import { Duplex } from 'node:stream';
import type { EndpointDialer, EndpointDialOptions } from '../../../src/agent/index.js';

/** A destination socket: the test reads what the agent wrote and writes as the endpoint. */
export class FakeEndpoint extends Duplex {
  /** Bytes the agent wrote to this endpoint. */
  readonly received: Buffer[] = [];
  private stalled = false;
  private held: { chunk: Buffer; cb: () => void }[] = [];
  private byteWaiters: { n: number; resolve: () => void }[] = [];

  constructor() {
    super({ writableHighWaterMark: 64, allowHalfOpen: false });
  }

  /** While stalled, writes are not taken (the agent sees backpressure). */
  stall(): void {
    this.stalled = true;
  }

  unstall(): void {
    this.stalled = false;
    const held = this.held;
    this.held = [];
    for (const h of held) this.acceptChunk(h.chunk, h.cb);
  }

  /** All bytes received so far. */
  bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** Resolves once at least n bytes were received. */
  waitBytes(n: number): Promise<void> {
    if (this.bytes().length >= n) return Promise.resolve();
    return new Promise((resolve) => this.byteWaiters.push({ n, resolve }));
  }

  /** The endpoint sends bytes to the agent. */
  send(b: Buffer | string): void {
    this.push(typeof b === 'string' ? Buffer.from(b) : b);
  }

  /** The endpoint closes its side (EOF). */
  eof(): void {
    this.push(null);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.stalled) this.held.push({ chunk, cb: () => cb() });
    else this.acceptChunk(chunk, () => cb());
  }

  override _read(): void {
    /* data is pushed by send() */
  }

  private acceptChunk(chunk: Buffer, cb: () => void): void {
    this.received.push(chunk);
    const total = this.bytes().length;
    this.byteWaiters = this.byteWaiters.filter((w) => {
      if (total < w.n) return true;
      w.resolve();
      return false;
    });
    cb();
  }
}

/** One call of the fake dialer, settled by the test. */
export interface DialCall {
  address: string;
  opts: EndpointDialOptions;
  /** Completes the dial with a new FakeEndpoint. */
  connect(): FakeEndpoint;
  /** Fails the dial. */
  fail(err: unknown): void;
}

/** A dialer whose calls the test settles one by one (or automatically with `auto`). */
export class FakeDialer {
  readonly calls: DialCall[] = [];
  /** Every endpoint handed out by connect(), in order. */
  readonly endpoints: FakeEndpoint[] = [];
  private waiters: ((c: DialCall) => void)[] = [];
  private taken = 0;
  /** When set, every dial completes at once with a new endpoint. */
  auto = false;

  readonly dial: EndpointDialer = (address, opts) =>
    new Promise((resolve, reject) => {
      const call: DialCall = {
        address,
        opts,
        connect: () => {
          const ep = new FakeEndpoint();
          this.endpoints.push(ep);
          resolve(ep);
          return ep;
        },
        fail: (err) => reject(err),
      };
      this.calls.push(call);
      if (this.auto) {
        call.connect();
        return;
      }
      const w = this.waiters.shift();
      if (w) {
        this.taken++;
        w(call);
      }
    });

  /** The next dial call not yet handed out. */
  next(): Promise<DialCall> {
    if (this.taken < this.calls.length) return Promise.resolve(this.calls[this.taken++]!);
    return new Promise((r) => this.waiters.push(r));
  }
}
