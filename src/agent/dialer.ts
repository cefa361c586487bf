/**
 * The endpoint dialer: how the agent opens a TCP connection to the address a
 * DIAL_REQ asks for. A function type, injected, so tests (and later an
 * allow-list or address mapping) can wrap or replace it.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { TIMING } from './defaults.js';
import { DialError } from './errors.js';
import { HostPortError, joinHostPort, parsePort, splitHostPort } from './host-port.js';
import { READ_CHUNK_BYTES } from './limits.js';

/** Options of one endpoint dial. */
export interface EndpointDialOptions {
  /** Give up after this long (DialError ERR_DIAL_TIMEOUT). */
  timeoutMs: number;
  /** Aborted when the dial is cancelled (DIAL_CLS, stream end, agent stop): the dial must reject and release its socket. */
  signal: AbortSignal;
}

/**
 * Opens a connection to `address` ("host:port", IPv6 in brackets) and
 * resolves once it is connected. Rejections are worded for DIAL_RSP by
 * describeDialError (Node system errors, DialError, HostPortError).
 */
export type EndpointDialer = (address: string, opts: EndpointDialOptions) => Promise<net.Socket | Duplex>;

/** Splits a dial address, with Go's words when it is not host:port with a valid port. */
export function parseDialAddress(address: string): { host: string; port: number } {
  try {
    const { host, port } = splitHostPort(address);
    return { host, port: parsePort(port) };
  } catch (e) {
    if (e instanceof HostPortError) throw new DialError('ERR_DIAL_ADDRESS', e.message);
    throw e;
  }
}

/**
 * The buffer every endpoint socket of the default dialer reads into (one
 * read at a time on the event loop; each read is copied out at once).
 */
const sharedReadBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);

/** The default dialer: TCP with net.connect, TCP_NODELAY and keepalive as Go's net.Dial sets them. */
export const tcpDialer: EndpointDialer = (address, opts) => {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseDialAddress(address));
  } catch (e) {
    return Promise.reject(e as Error);
  }
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) {
      reject(new DialError('ERR_DIAL_ABORTED', `dial to ${address} cancelled`));
      return;
    }
    let resolvedAddress: string | undefined = net.isIP(host) ? joinHostPort(host, port) : undefined;
    // Reads of up to READ_CHUNK_BYTES (Node reads 64 KiB otherwise): one
    // DATA packet per read. Each read is copied out of the shared buffer and
    // pushed into the socket's own readable side, so the socket behaves as
    // any other (buffering, 'data', pause/resume); a full readable buffer
    // stops reading until it is read.
    const socket: net.Socket = net.connect({
      host: host === '' ? 'localhost' : host,
      port,
      onread: { buffer: sharedReadBuffer, callback: (n: number, buf: Uint8Array): boolean => socket.push(Buffer.from(buf.subarray(0, n))) },
    });
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      socket.off('lookup', onLookup);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onError = (e: Error): void => finish(e);
    const onConnect = (): void => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, TIMING.endpointKeepaliveMs);
      finish();
    };
    const onLookup = (err: Error | null, ip: string): void => {
      if (!err && typeof ip === 'string') resolvedAddress = joinHostPort(ip, port);
    };
    const onAbort = (): void => finish(new DialError('ERR_DIAL_ABORTED', `dial to ${address} cancelled`));
    const timer = setTimeout(
      () =>
        finish(
          new DialError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out after ${opts.timeoutMs} ms`, {
            ...(resolvedAddress !== undefined ? { resolvedAddress } : { lookupPending: true }),
          }),
        ),
      opts.timeoutMs,
    );
    socket.once('error', onError);
    socket.once('connect', onConnect);
    socket.on('lookup', onLookup);
    opts.signal.addEventListener('abort', onAbort, { once: true });
  });
};
