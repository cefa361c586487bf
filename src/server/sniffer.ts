/**
 * Tells a gRPC client (HTTP/2 preface) from an HTTP/1.x client (request
 * line) by the first bytes of a frontend connection, so both are served on
 * one socket.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.js';

/** The HTTP/2 client connection preface. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What the first bytes say. */
export type Sniffed =
  | { kind: 'h2' }
  | { kind: 'http1' }
  /** Undecided: wait for more bytes. */
  | { kind: 'more' }
  | { kind: 'bad'; reason: BadInputReason };

/** bad_input_total reasons of the sniffer. */
export type BadInputReason = 'not_http' | 'request_line_too_long' | 'malformed_request_line' | 'timeout' | 'eof';

// RFC 9110 tchar.
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+ HTTP\/1\.[0-9]$/;

/** Classifies the bytes received so far; `maxBytes` bounds the wait for an HTTP/1 request line. */
export function classify(buf: Buffer, maxBytes: number): Sniffed {
  if (buf.length === 0) return { kind: 'more' };
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
    return n === H2_PREFACE.length ? { kind: 'h2' } : { kind: 'more' };
  }
  // An HTTP/1.x request line: METHOD SP request-target SP HTTP/1.x
  const nl = buf.indexOf(0x0a);
  const head = buf.subarray(0, nl < 0 ? Math.min(buf.length, maxBytes) : nl).toString('latin1');
  const sp = head.indexOf(' ');
  const method = sp < 0 ? head : head.slice(0, sp);
  for (const ch of method) if (!TCHAR.test(ch)) return { kind: 'bad', reason: 'not_http' };
  if (nl < 0) return buf.length >= maxBytes ? { kind: 'bad', reason: 'request_line_too_long' } : { kind: 'more' };
  if (nl > maxBytes) return { kind: 'bad', reason: 'request_line_too_long' };
  const line = head.endsWith('\r') ? head.slice(0, -1) : head;
  return REQUEST_LINE.test(line) ? { kind: 'http1' } : { kind: 'bad', reason: 'malformed_request_line' };
}

/** Outcome of sniffSocket. */
export type SniffResult = { kind: 'h2' | 'http1' } | { kind: 'bad'; reason: BadInputReason };

/**
 * Reads from `socket` until its protocol is known. On success the bytes read
 * are pushed back (`unshift`) and the socket is left paused for the next
 * owner; on failure the socket is left to the caller to close.
 */
export function sniffSocket(socket: Duplex, opts: { timeoutMs: number; maxBytes: number; clock: Clock }): Promise<SniffResult> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (r: SniffResult): void => {
      opts.clock.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      if (r.kind !== 'bad') {
        socket.pause();
        if (buf.length > 0) socket.unshift(buf);
      }
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const c = classify(buf, opts.maxBytes);
      if (c.kind !== 'more') finish(c);
    };
    const onEnd = (): void => finish({ kind: 'bad', reason: 'eof' });
    const timer = opts.clock.setTimeout(() => finish({ kind: 'bad', reason: 'timeout' }), opts.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
  });
}
