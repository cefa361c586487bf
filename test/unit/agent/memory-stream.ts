/** An in-memory PacketStream for the agent's unit tests: the test plays the server. */
import type { Packet } from '../../../src/protocol/index.js';
import type { PacketStream, StreamCloseReason } from '../../../src/transport/packet-stream.js';

interface SentWaiter {
  match: (p: Packet) => boolean;
  resolve: (p: Packet) => void;
}

/** The agent writes with write(); the test pushes server packets with push(). */
export class MemoryPacketStream implements PacketStream {
  readonly peer = 'memory-server';
  closed = false;
  closeReason: StreamCloseReason | undefined;
  readonly done: Promise<void>;
  /** Every packet the agent wrote, in order. */
  readonly sent: Packet[] = [];
  private readonly taken = new Set<number>();
  private readonly sentWaiters: SentWaiter[] = [];
  private readonly inbox: Packet[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private full = false;
  private drainWaiters: (() => void)[] = [];
  private resolveDone!: () => void;

  constructor() {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  write(p: Packet, onWritten?: () => void): boolean {
    if (this.closed) return false;
    this.sent.push(p);
    onWritten?.();
    const i = this.sent.length - 1;
    const w = this.sentWaiters.findIndex((x) => x.match(p));
    if (w >= 0) {
      this.taken.add(i);
      this.sentWaiters.splice(w, 1)[0]!.resolve(p);
    }
    return !this.full;
  }

  drained(): Promise<void> {
    if (this.closed || !this.full) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Simulates a full (true) or drained (false) transport buffer. */
  setFull(full: boolean): void {
    this.full = full;
    if (!full) this.releaseDrainWaiters();
  }

  /** The next sent packet matching `match` not yet returned by this method (waits for it). */
  nextSent(match: (p: Packet) => boolean = () => true): Promise<Packet> {
    for (let i = 0; i < this.sent.length; i++) {
      if (!this.taken.has(i) && match(this.sent[i]!)) {
        this.taken.add(i);
        return Promise.resolve(this.sent[i]!);
      }
    }
    return new Promise((resolve) => this.sentWaiters.push({ match, resolve }));
  }

  /** Delivers a packet from the "server". */
  push(p: Packet): void {
    this.inbox.push(p);
    this.poke();
  }

  /** The server ends the stream normally. */
  end(): void {
    this.ended = true;
    this.poke();
  }

  /** The stream fails (a transport error or a ProtocolError from a malformed frame). */
  fail(err: Error): void {
    this.failure = err;
    this.poke();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Packet> {
    for (;;) {
      if (this.inbox.length > 0) {
        yield this.inbox.shift()!;
        continue;
      }
      if (this.failure) {
        this.finish();
        throw this.failure;
      }
      if (this.ended || this.closed) {
        this.finish();
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  close(reason?: StreamCloseReason): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.finish();
    this.poke();
  }

  private finish(): void {
    this.closed = true;
    this.releaseDrainWaiters();
    this.resolveDone();
  }

  private releaseDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
