/**
 * Reads one HTTP/1.x request head (request line and headers) from a raw
 * socket, bounded in size and time, keeping any bytes that arrived after it.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.js';
import { HTTP_CLOSE_LINGER_MS } from './limits.js';

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request-target exactly as sent (for CONNECT: host:port). */
  target: string;
  /** "HTTP/1.1" or "HTTP/1.0". */
  version: string;
  /** Header fields, names lowercased, in order. */
  headers: [string, string][];
  /** Bytes received after the blank line (already the tunnelled payload for CONNECT). */
  rest: Buffer;
}

/** Why a head could not be read; `status` is what to answer (0: just close). */
export interface HeadError {
  status: 0 | 400 | 408 | 431;
  reason: 'timeout' | 'too_large' | 'malformed' | 'eof';
  message: string;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^ ]+) (HTTP\/1\.[0-9])$/;
const HEADER = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;

/** Parses a complete head (without the final blank line). */
export function parseHead(text: string, rest: Buffer): RequestHead | HeadError {
  const lines = text.split(/\r?\n/);
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m) return { status: 400, reason: 'malformed', message: 'malformed request line' };
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const h = HEADER.exec(line);
    if (!h) return { status: 400, reason: 'malformed', message: 'malformed header line' };
    headers.push([h[1]!.toLowerCase(), h[2]!]);
  }
  return { method: m[1]!, target: m[2]!, version: m[3]!, headers, rest };
}

/**
 * Reads until the blank line ending the head. Resolves with the head or an
 * error; the socket is left paused, its listeners removed.
 */
export function readRequestHead(
  socket: Duplex,
  opts: { timeoutMs: number; maxBytes: number; clock: Clock },
): Promise<RequestHead | HeadError> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (r: RequestHead | HeadError): void => {
      opts.clock.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      const searchFrom = Math.max(0, buf.length - 3);
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let end = buf.indexOf('\r\n\r\n', searchFrom, 'latin1');
      let sepLen = 4;
      if (end < 0) {
        end = buf.indexOf('\n\n', searchFrom, 'latin1');
        sepLen = 2;
      }
      if (end < 0) {
        if (buf.length > opts.maxBytes) {
          finish({ status: 431, reason: 'too_large', message: `request head larger than ${opts.maxBytes} bytes` });
        }
        return;
      }
      if (end > opts.maxBytes) {
        finish({ status: 431, reason: 'too_large', message: `request head larger than ${opts.maxBytes} bytes` });
        return;
      }
      finish(parseHead(buf.subarray(0, end).toString('latin1'), buf.subarray(end + sepLen)));
    };
    const onEnd = (): void => finish({ status: 0, reason: 'eof', message: 'client closed before sending the request head' });
    const timer = opts.clock.setTimeout(
      () => finish({ status: 408, reason: 'timeout', message: `no complete request head within ${opts.timeoutMs} ms` }),
      opts.timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/**
 * Writes a complete HTTP/1.1 response with a text body and ends the socket;
 * it is destroyed HTTP_CLOSE_LINGER_MS after the response was flushed unless
 * the client closed first.
 */
export function respondAndClose(socket: Duplex, status: number, statusText: string, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  socket.once('finish', () => {
    const t = setTimeout(() => socket.destroy(), HTTP_CLOSE_LINGER_MS);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  });
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      'Connection: close\r\n' +
      `Content-Length: ${bytes.length}\r\n\r\n` +
      body,
  );
}
