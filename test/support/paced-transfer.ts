/**
 * A long, paced transfer through a tunnel, checked byte for byte both ways.
 *
 * The target (on 127.0.0.1) sends a random chunk every `everyMs` from the
 * moment a connection opens until it is told to finish; it hashes what it
 * receives and what it sends. The client does the same the other way, until
 * `until()` says the transfer has lasted long enough. Both sides honour
 * backpressure (a chunk waits for 'drain'), so a slow tunnel slows the
 * transfer instead of piling up buffers. The first 16 bytes the client sends
 * name the connection, as in hash-target.ts. Nothing is echoed: each
 * direction is checked on its own.
 *
 * The konnectivity protocol has no half-close: a client's end() is a full
 * close (CLOSE_REQ), and what the target sends after it is dropped. So the
 * exchange ends out of band, the target being in this process: once the
 * client has written its last chunk, `target.finish(key, bytes)` waits until
 * the target has received all of them, stops its sender and ends the socket;
 * the agent forwards everything before that FIN, and the client reads to its
 * end. Ending on the client side instead would lose, by design, whatever the
 * target wrote while the close was on its way.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Pace of one direction. */
export interface Pace {
  /** Bytes per write. */
  chunk: number;
  /** Time between writes. */
  everyMs: number;
}

/** What the target saw of one connection (final once the socket closed). */
export interface PacedRecord {
  receivedSha: string;
  receivedBytes: number;
  sentSha: string;
  sentBytes: number;
}

/** A running paced target. */
export interface PacedTarget {
  address: string;
  /** Records by connection key (hex of the client's first 16 bytes). */
  readonly records: Map<string, PacedRecord>;
  /** Resolves with the record of `key` once that connection closed. */
  record(key: string, timeoutMs?: number): Promise<PacedRecord>;
  /**
   * Once connection `key` has received `bytes` bytes, stops sending on it and
   * ends it (the target's FIN). Rejects when the bytes do not arrive in time.
   */
  finish(key: string, bytes: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Writes paced chunks to `s` until `stop()` is true; hashes them. Resolves with the bytes written. */
async function pacedWrite(s: Duplex, pace: Pace, hash: Hash, stop: () => boolean, first?: Buffer): Promise<number> {
  let sent = 0;
  let next = Date.now();
  for (let i = 0; !stop(); i++) {
    if (s.destroyed || s.writableEnded) throw new Error(`stream closed after ${sent} bytes written`);
    const chunk = i === 0 && first ? Buffer.concat([first, randomBytes(Math.max(0, pace.chunk - first.length))]) : randomBytes(pace.chunk);
    hash.update(chunk);
    sent += chunk.length;
    if (!s.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          s.off('drain', onDrain);
          s.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = (): void => done();
        const onClose = (): void => done(new Error(`stream closed while writing, after ${sent} bytes`));
        s.on('drain', onDrain);
        s.on('close', onClose);
      });
    }
    next += pace.everyMs;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = Date.now();
  }
  return sent;
}

/** Starts a paced target. */
export async function startPacedTarget(pace: Pace): Promise<PacedTarget> {
  const records = new Map<string, PacedRecord>();
  const waiters = new Map<string, (r: PacedRecord) => void>();
  const sockets = new Set<net.Socket>();
  /** Open connections by key: bytes received so far, and how to stop their sender. */
  const open = new Map<string, { received: () => number; stop: () => void }>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    const rx = createHash('sha256');
    const tx = createHash('sha256');
    let head = Buffer.alloc(0);
    let received = 0;
    let stopped = false;
    let sentBytes = 0;
    sock.on('data', (chunk: Buffer) => {
      if (head.length < 16) {
        head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)]);
        if (head.length === 16) open.set(head.toString('hex'), { received: () => received, stop: () => (stopped = true) });
      }
      rx.update(chunk);
      received += chunk.length;
    });
    sock.on('end', () => (stopped = true));
    const sending = pacedWrite(sock, pace, tx, () => stopped).then(
      (n) => {
        sentBytes = n;
        sock.end();
      },
      () => sock.destroy(),
    );
    sock.on('close', () => {
      sockets.delete(sock);
      if (head.length === 16) open.delete(head.toString('hex'));
      void sending.then(() => {
        if (head.length !== 16) return;
        const key = head.toString('hex');
        const r = { receivedSha: rx.digest('hex'), receivedBytes: received, sentSha: tx.digest('hex'), sentBytes };
        records.set(key, r);
        waiters.get(key)?.(r);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    records,
    record: (key, timeoutMs = 20_000) => {
      const have = records.get(key);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`target: connection ${key} did not close within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(key, (r) => {
          clearTimeout(t);
          resolve(r);
        });
      });
    },
    finish: async (key, bytes, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const conn = open.get(key);
        if (conn && conn.received() >= bytes) {
          conn.stop();
          return;
        }
        if (Date.now() > deadline) {
          throw new Error(`target: connection ${key} received ${conn?.received() ?? 0} of ${bytes} bytes within ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** What the client side measured. */
export interface PacedResult {
  key: string;
  sentSha: string;
  sentBytes: number;
  receivedSha: string;
  receivedBytes: number;
  durationMs: number;
}

/**
 * Drives one connection against a paced target: sends paced chunks until
 * `until()` is true (checked before each chunk), has the target finish once
 * it got them all (see the top of this file), reads until the target's end.
 * Fails with the progress made when nothing arrives for `stallMs`.
 */
export async function pacedExchange(
  sock: Duplex,
  target: Pick<PacedTarget, 'finish'>,
  pace: Pace,
  until: () => boolean,
  stallMs = 15_000,
): Promise<PacedResult> {
  const started = Date.now();
  const key = randomBytes(16);
  const rx = createHash('sha256');
  const tx = createHash('sha256');
  let received = 0;
  let lastReceived = -1;
  let stall!: (e: Error) => void;
  const stalled = new Promise<never>((_, reject) => (stall = reject));
  stalled.catch(() => undefined);
  const watchdog = setInterval(() => {
    if (received === lastReceived) stall(new Error(`stalled: nothing received for ${stallMs} ms (received ${received} bytes)`));
    lastReceived = received;
  }, stallMs);
  const ended = new Promise<void>((resolve, reject) => {
    sock.on('data', (chunk: Buffer) => {
      rx.update(chunk);
      received += chunk.length;
    });
    sock.on('end', () => resolve());
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`closed before the target's end, after ${received} bytes received`)));
  });
  ended.catch(() => undefined);
  try {
    const sent = await Promise.race([pacedWrite(sock, pace, tx, until, key), stalled]);
    await Promise.race([target.finish(key.toString('hex'), sent), stalled]);
    await Promise.race([ended, stalled]);
    return {
      key: key.toString('hex'),
      sentSha: tx.digest('hex'),
      sentBytes: sent,
      receivedSha: rx.digest('hex'),
      receivedBytes: received,
      durationMs: Date.now() - started,
    };
  } catch (e) {
    sock.destroy();
    throw e;
  } finally {
    clearInterval(watchdog);
  }
}
