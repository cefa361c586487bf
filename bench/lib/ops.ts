/**
 * Client side of the target protocol (see target.ts), over any Duplex.
 * Every op checks the bytes it gets back (pattern or echo) and rejects on the
 * first wrong, missing or extra byte, or when the socket closes early, so a
 * corrupted stream fails the run instead of producing a figure.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { PatternChecker, BLOCK } from './pattern.js';

export type Op = 'D' | 'U' | 'E' | 'S' | 'Q';

export function header(op: Op, n: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = op.charCodeAt(0);
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

const ignore = (): void => undefined;

/** Once an op is done with a socket, a late 'error' (e.g. a reset while the caller destroys it) must not crash the run. */
function keepQuiet(sock: Duplex): void {
  if (!sock.listeners('error').includes(ignore)) sock.on('error', ignore);
}

/**
 * Settles a promise once and rejects it when the socket errors or closes
 * before `settle` was called; listeners are added once per op, not per chunk.
 */
function guard<T>(sock: Duplex, what: string, run: (ok: (v: T) => void, fail: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const cleanup = (): void => {
      done = true;
      sock.off('error', onError);
      sock.off('close', onClose);
      keepQuiet(sock);
    };
    const ok = (v: T): void => {
      if (done) return;
      cleanup();
      resolve(v);
    };
    const fail = (e: Error): void => {
      if (done) return;
      cleanup();
      sock.destroy();
      reject(e);
    };
    const onError = (e: Error): void => fail(new Error(`${what}: ${e.message}`));
    const onClose = (): void => fail(new Error(`${what}: socket closed early`));
    sock.on('error', onError);
    sock.on('close', onClose);
    run(ok, fail);
  });
}

/** Asks for n bytes and checks every byte; resolves when the target closes after n bytes. */
export function download(sock: Duplex, n: number, block: Buffer): Promise<void> {
  return guard<void>(sock, 'download', (ok, fail) => {
    const checker = new PatternChecker(block);
    sock.on('data', (c: Buffer) => {
      try {
        checker.check(c);
      } catch (e) {
        fail(e as Error);
      }
    });
    sock.once('end', () => (checker.offset === n ? ok() : fail(new Error(`download got ${checker.offset} of ${n} bytes`))));
    sock.write(header('D', n));
  });
}

/** Sends n pattern bytes; resolves when the target acknowledges all of them (it checks every byte). */
export function upload(sock: Duplex, n: number, block: Buffer): Promise<void> {
  return guard<void>(sock, 'upload', (ok, fail) => {
    const acks: Buffer[] = [];
    sock.on('data', (c: Buffer) => acks.push(c));
    sock.once('end', () => {
      const ack = Buffer.concat(acks);
      if (ack.length === 8 && Number(ack.readBigUInt64BE()) === n) ok();
      else fail(new Error(`upload: target acknowledged ${ack.length === 8 ? ack.readBigUInt64BE() : 'nothing'} of ${n}`));
    });
    sock.write(header('U', n));
    let sent = 0;
    const pump = (): void => {
      while (sent < n) {
        const at = sent % BLOCK;
        const k = Math.min(BLOCK - at, n - sent);
        sent += k;
        if (!sock.write(block.subarray(at, at + k))) {
          sock.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

/**
 * Reads exactly `expect.length` bytes and checks they equal `expect`. One
 * 'data' listener for the whole socket, so reading many replies adds none.
 */
class EchoReader {
  private want: Buffer | undefined;
  private got: Buffer[] = [];
  private gotLen = 0;
  private waiter: { ok: () => void; fail: (e: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor(private readonly sock: Duplex) {
    const onData = (c: Buffer): void => this.onData(c);
    const onError = (e: Error): void => this.fail(new Error(`echo: ${e.message}`));
    const onClose = (): void => this.fail(new Error('echo: socket closed early'));
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    this.detach = () => {
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      keepQuiet(sock);
    };
  }

  readonly detach: () => void;

  /** Sends `msg` and resolves once the same bytes came back. */
  roundTrip(msg: Buffer, prefix?: Buffer): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.want) return Promise.reject(new Error('echo: round trip already in flight'));
    return new Promise<void>((ok, fail) => {
      this.want = msg;
      this.waiter = { ok, fail };
      this.sock.write(prefix ? Buffer.concat([prefix, msg]) : msg);
    });
  }

  private onData(c: Buffer): void {
    if (!this.want) return this.fail(new Error(`echo: ${c.length} unexpected bytes`));
    this.got.push(c);
    this.gotLen += c.length;
    if (this.gotLen < this.want.length) return;
    const got = Buffer.concat(this.got);
    if (this.gotLen > this.want.length) return this.fail(new Error(`echo: ${this.gotLen} bytes back for ${this.want.length} sent`));
    if (!got.equals(this.want)) return this.fail(new Error('echo: the bytes that came back differ from the bytes sent'));
    this.got = [];
    this.gotLen = 0;
    this.want = undefined;
    const w = this.waiter!;
    this.waiter = undefined;
    w.ok();
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    this.detach();
    this.sock.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.fail(e);
  }
}

/** Opens echo mode, then times `count` round trips of `size` bytes (each checked); returns latencies in microseconds. */
export async function echoRoundTrips(sock: Duplex, count: number, size: number): Promise<number[]> {
  const reader = new EchoReader(sock);
  const msg = Buffer.alloc(size);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      msg.fill(0x41 + (i % 26));
      const t0 = process.hrtime.bigint();
      await reader.roundTrip(msg, i === 0 ? header('E', 0) : undefined);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  } finally {
    reader.detach();
  }
  return times;
}

const PROBE = Buffer.from('ping-0123456789');

/** Opens echo mode and checks one small request comes back; the connection stays open (idle tunnels). */
export async function echoProbe(sock: Duplex): Promise<void> {
  const reader = new EchoReader(sock);
  try {
    await reader.roundTrip(PROBE, header('E', 0));
  } finally {
    reader.detach();
  }
}

/** One single-use connection: echo one small request (checked), then end. */
export async function echoOnce(sock: Duplex): Promise<void> {
  await echoProbe(sock);
  sock.end();
}

/** What the target reports about itself (op 'Q', asked directly over TCP, not through the tunnel). */
export interface TargetStats {
  /** Connections open at the target, not counting the one asking. */
  open: number;
  /** 'S' streams by tag: bytes the target handed to the kernel, whether it is still open, whether it waits for 'drain'. */
  stalls: Record<string, { pushed: number; open: boolean; blocked: boolean; openedAt: number; closedAt?: number }>;
}

export function targetStats(port: number): Promise<TargetStats> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(header('Q', 0)));
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')) as TargetStats);
      } catch (e) {
        reject(e as Error);
      }
    });
    s.once('error', reject);
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
