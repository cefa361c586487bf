/**
 * A TCP target on 127.0.0.1 that checks both directions of a tunneled
 * connection independently, and a client side that drives it.
 *
 * The target sends `size` random bytes of its own as soon as a connection
 * opens, and hashes what it receives. The first 16 bytes a client sends
 * name the connection (they are random, so unique); the target records,
 * under that key, the SHA-256 and length of what it received and the SHA-256
 * of what it sent. The client compares its own hashes against that record:
 * client→target is checked by the target's received hash, target→client by
 * the target's sent hash. Nothing is echoed, so an echo bug cannot hide a
 * relay bug.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** What the target saw of one connection. */
export interface TargetRecord {
  /** SHA-256 (hex) of every byte received. */
  receivedSha: string;
  receivedBytes: number;
  /** SHA-256 (hex) of the bytes it sent. */
  sentSha: string;
}

/** A running hash target. */
export interface HashTarget {
  port: number;
  address: string;
  /** Records by connection key (hex of the client's first 16 bytes), final once the socket closed. */
  readonly records: Map<string, TargetRecord>;
  /** Open target sockets. */
  readonly sockets: Set<net.Socket>;
  /** Resolves once every socket the target accepted has closed. */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a hash target sending `size` bytes per connection. */
export async function startHashTarget(size: number): Promise<HashTarget> {
  const records = new Map<string, TargetRecord>();
  const sockets = new Set<net.Socket>();
  let closedWaiters: (() => void)[] = [];
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    const out = randomBytes(size);
    const sentSha = sha(out);
    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    let received = 0;
    sock.on('data', (chunk: Buffer) => {
      if (head.length < 16) head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)]);
      hash.update(chunk);
      received += chunk.length;
    });
    sock.on('close', () => {
      sockets.delete(sock);
      if (head.length === 16) records.set(head.toString('hex'), { receivedSha: hash.digest('hex'), receivedBytes: received, sentSha });
      if (sockets.size === 0) for (const w of closedWaiters.splice(0)) w();
    });
    writeAll(sock, out, 64 * 1024).catch(() => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    records,
    sockets,
    allClosed: () => (sockets.size === 0 ? Promise.resolve() : new Promise((r) => closedWaiters.push(r))),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        closedWaiters = [];
        server.close(() => r());
      }),
  };
}

/** SHA-256 in hex. */
export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Writes `buf` in chunks, waiting for 'drain' when write() says so. Rejects if the stream fails first. */
export async function writeAll(s: Duplex, buf: Buffer, chunk: number): Promise<void> {
  for (let off = 0; off < buf.length; off += chunk) {
    if (s.destroyed) throw new Error('stream destroyed while writing');
    if (!s.write(buf.subarray(off, off + chunk))) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          s.off('drain', onDrain);
          s.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = (): void => done();
        const onClose = (): void => done(new Error('stream closed while writing'));
        s.on('drain', onDrain);
        s.on('close', onClose);
      });
    }
  }
}

/** What a client side of one connection measured. */
export interface ClientResult {
  key: string;
  sentSha: string;
  receivedSha: string;
  receivedBytes: number;
}

/**
 * Drives one connection against a hash target: sends `size` random bytes
 * (the first 16 are the key) while reading, until `size` bytes came back;
 * then ends the socket and waits for it to close. Fails with the progress
 * made when nothing moves in either direction for `stallMs`.
 */
export async function exchange(sock: Duplex, size: number, stallMs = 15_000): Promise<ClientResult> {
  const out = randomBytes(size);
  const key = out.subarray(0, 16).toString('hex');
  const hash = createHash('sha256');
  let received = 0;
  let written = 0;
  let lastProgress = -1;
  let stall!: (e: Error) => void;
  const stalled = new Promise<never>((_, reject) => (stall = reject));
  stalled.catch(() => undefined);
  const watchdog = setInterval(() => {
    const progress = received + written;
    if (progress === lastProgress) {
      stall(new Error(`stalled: nothing moved for ${stallMs} ms; sent ${written} and received ${received} of ${size} bytes`));
    }
    lastProgress = progress;
  }, stallMs);
  const closed = new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
  const gotAll = new Promise<void>((resolve, reject) => {
    sock.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      if (received >= size) resolve();
    });
    sock.on('end', () => (received >= size ? resolve() : reject(new Error(`ended after ${received} of ${size} bytes`))));
    sock.on('error', reject);
  });
  gotAll.catch(() => undefined);
  closed.catch(() => undefined);
  const chunk = 64 * 1024;
  const sending = (async () => {
    for (let off = 0; off < out.length; off += chunk) {
      await writeAll(sock, out.subarray(off, off + chunk), chunk);
      written = Math.min(out.length, off + chunk);
    }
  })();
  sending.catch(() => undefined);
  try {
    await Promise.race([Promise.all([sending, gotAll]), stalled]);
    sock.end();
    await Promise.race([closed, stalled]);
  } catch (e) {
    sock.destroy();
    throw e;
  } finally {
    clearInterval(watchdog);
  }
  return { key, sentSha: sha(out), receivedSha: hash.digest('hex'), receivedBytes: received };
}
