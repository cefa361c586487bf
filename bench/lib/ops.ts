/** Client side of the target protocol (see target.ts), over any Duplex. */
import type { Duplex } from 'node:stream';
import { PatternChecker, BLOCK } from './pattern.js';

export function header(op: 'D' | 'U' | 'E' | 'S', n: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = op.charCodeAt(0);
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/** Asks for n bytes and checks every byte; resolves when the target closes after n bytes. */
export function download(sock: Duplex, n: number, block: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const checker = new PatternChecker(block);
    sock.on('data', (c: Buffer) => {
      try {
        checker.check(c);
      } catch (e) {
        sock.destroy();
        reject(e as Error);
      }
    });
    sock.once('end', () => (checker.offset === n ? resolve() : reject(new Error(`download got ${checker.offset} of ${n} bytes`))));
    sock.once('error', reject);
    sock.write(header('D', n));
  });
}

/** Sends n pattern bytes; resolves when the target acknowledges all of them. */
export function upload(sock: Duplex, n: number, block: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let ack = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => (ack = Buffer.concat([ack, c])));
    sock.once('end', () => {
      if (ack.length === 8 && Number(ack.readBigUInt64BE()) === n) resolve();
      else reject(new Error(`upload: target acknowledged ${ack.length === 8 ? ack.readBigUInt64BE() : 'nothing'} of ${n}`));
    });
    sock.once('error', reject);
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

/** Opens echo mode, then times `count` round trips of `size` bytes; returns latencies in microseconds. */
export async function echoRoundTrips(sock: Duplex, count: number, size: number): Promise<number[]> {
  sock.write(header('E', 0));
  const msg = Buffer.alloc(size, 0x61);
  const times: number[] = [];
  let got = 0;
  let resolveOne: (() => void) | undefined;
  sock.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= size && resolveOne) {
      got -= size;
      const r = resolveOne;
      resolveOne = undefined;
      r();
    }
  });
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      resolveOne = resolve;
      sock.once('error', reject);
      sock.write(msg);
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return times;
}

/** One single-use connection: echo one small request and close. */
export function echoOnce(sock: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const msg = Buffer.from('ping-0123456789');
    let got = 0;
    sock.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= msg.length) {
        sock.end();
        resolve();
      }
    });
    sock.once('error', reject);
    sock.write(Buffer.concat([header('E', 0), msg]));
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
