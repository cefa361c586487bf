/** Small helpers shared by the client tests: TCP targets on 127.0.0.1, temp dirs, byte readers. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** A TCP server on 127.0.0.1:0 that tracks its sockets so close() is immediate. */
export interface TcpTarget {
  port: number;
  address: string;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** Starts a TCP server on 127.0.0.1:0 running `onConn` for each connection. */
export async function startTcpTarget(onConn: (s: net.Socket) => void): Promise<TcpTarget> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    t.accepted++;
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const t: TcpTarget = {
    port,
    address: `127.0.0.1:${port}`,
    accepted: 0,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  return t;
}

/** An echo server. */
export function startEcho(): Promise<TcpTarget> {
  return startTcpTarget((s) => s.pipe(s));
}

/** A fresh temp dir for sockets and certificates. */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
}

/** SHA-256 hex of some bytes. */
export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads exactly n bytes from a stream (rejects if it ends or errors first). */
export function readExactly(r: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const cleanup = (): void => {
      r.off('data', onData);
      r.off('end', onEnd);
      r.off('error', reject);
    };
    const onData = (b: Buffer): void => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        cleanup();
        r.pause();
        const all = Buffer.concat(parts);
        if (all.length > n) r.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`stream ended after ${got} of ${n} bytes`));
    };
    r.on('data', onData);
    r.once('end', onEnd);
    r.once('error', (e) => {
      cleanup();
      reject(e);
    });
  });
}

/** Reads a stream to its end. */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of r) parts.push(b as Buffer);
  return Buffer.concat(parts);
}
