/**
 * How the server connects to a pull target: TCP with a timeout, cancellable.
 * Injected into PullService, so tests can swap it.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PullTarget } from './config.js';

/** Why a target dial failed: a timeout, or a connection error (its text). */
export class PullDialError extends Error {
  constructor(
    readonly timedOut: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'PullDialError';
  }
}

/** Connects to a target; rejects with PullDialError. Aborting the signal cancels the dial. */
export type PullDialer = (target: PullTarget, timeoutMs: number, signal: AbortSignal) => Promise<Duplex>;

/** The TCP dialer (keepalive on, Nagle off, as the agent's endpoint dialer). */
export const tcpPullDialer: PullDialer = (target, timeoutMs, signal) =>
  new Promise<Duplex>((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const done = (err: Error | undefined): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        socket.setKeepAlive(true, 15_000);
        socket.setNoDelay(true);
        resolve(socket);
      }
    };
    const onConnect = (): void => done(undefined);
    const onError = (e: NodeJS.ErrnoException): void => done(new PullDialError(false, e.code ? `${e.code}: ${e.message}` : e.message));
    const onAbort = (): void => done(new PullDialError(false, 'dial cancelled'));
    const timer = setTimeout(() => done(new PullDialError(true, `no connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
