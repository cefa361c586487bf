/**
 * The HTTP CONNECT frontend (anp-protocol.md section 4): one raw socket per
 * dial. The dial address is the request-target (the Host header is
 * ignored); the 200 is sent only after the agent dialed; a failed dial gets
 * a status chosen from the error, then the socket closes. Afterwards raw
 * bytes flow both ways, paused on backpressure; the socket's end or error
 * sends CLOSE_REQ, the agent's CLOSE_RSP or DIAL_CLS closes the socket.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { closeReq, data, type DialIDSource, dialReq, PacketType } from '../protocol/index.js';
import type { ServerError } from './errors.js';
import type { DialFailure, Frontend, ToClientPacket } from './frontend.js';
import type { RequestHead } from './http-head.js';
import { respondAndClose } from './http-head.js';
import {
  agentDialError,
  CONNECT_ESTABLISHED,
  errorResponseBytes,
  type HttpErrorResponse,
  serverDialError,
} from './http-connect-status.js';
import type { ServerLimits } from './limits.js';
import type { Relay } from './relay.js';
import type { ClientSession } from './session.js';
import { dialHost } from './strategies.js';
import { drainOrClose } from '../transport/drain.js';

/** What the CONNECT frontend needs. */
export interface HttpConnectDeps {
  relay: Relay;
  metrics: ServerMetrics;
  logger: Logger;
  limits: ServerLimits;
  /** Dial ids of CONNECT dials (the server picks them). */
  dialIDs: DialIDSource;
}

/** A CONNECT socket as a Frontend. */
class HttpConnectFrontend implements Frontend {
  readonly kind = 'http' as const;
  /** True once the status line (200 or an error) was written. */
  private responded = false;
  private gone = false;

  constructor(
    private readonly socket: Duplex,
    readonly peer: string,
    private readonly onEstablished: (connectID: bigint) => void,
    /** Told of every error status sent instead of the 200 (for the log). */
    private readonly onFailed: (r: HttpErrorResponse) => void,
  ) {}

  get closed(): boolean {
    return this.gone || this.socket.destroyed;
  }

  deliver(p: ToClientPacket, written?: () => void): boolean {
    if (this.closed) return false;
    switch (p.type) {
      case PacketType.DIAL_RSP: {
        const { error, connectID } = p.dialResponse;
        if (error !== '') return this.fail(agentDialError(error));
        this.responded = true;
        const ok = this.socket.write(CONNECT_ESTABLISHED);
        this.onEstablished(connectID);
        return ok;
      }
      case PacketType.DATA:
        return this.socket.write(p.data.data, written);
      case PacketType.CLOSE_RSP:
        this.end();
        return false;
      case PacketType.DIAL_CLS:
        this.gone = true;
        this.socket.destroy();
        return false;
    }
  }

  dialFailed(f: DialFailure): boolean {
    return this.fail(serverDialError(f));
  }

  drained(): Promise<void> {
    const s = this.socket;
    if (this.closed || !s.writableNeedDrain) return Promise.resolve();
    return drainOrClose(s);
  }

  abort(err: ServerError): void {
    if (this.closed) return;
    if (!this.responded) {
      this.fail({ status: err.code === 'ERR_SHUTTING_DOWN' ? 503 : 502, reason: 'Error', body: err.message });
      return;
    }
    this.gone = true;
    this.socket.destroy();
  }

  private fail(r: HttpErrorResponse): boolean {
    if (this.responded) {
      this.end();
      return false;
    }
    this.responded = true;
    this.onFailed(r);
    this.socket.write(errorResponseBytes(r));
    this.end();
    return false;
  }

  /** Flushes what was written, then closes. */
  private end(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.once('finish', () => this.socket.destroy());
    this.socket.end();
  }
}

/** Builds the handler for CONNECT requests whose head was read. */
export function makeHttpConnectHandler(deps: HttpConnectDeps): (socket: Duplex, head: RequestHead, peer: string) => void {
  return (socket, head, peer) => {
    const bad = connectTargetError(head.target);
    if (bad !== undefined) {
      deps.metrics.badInput.inc({ source: 'http', reason: 'bad_target' });
      deps.logger.warn('bad CONNECT target', { peer, error: bad });
      respondAndClose(socket, 400, 'Bad Request', bad + '\n');
      return;
    }
    serveConnect(socket, head, peer, deps);
  };
}

/**
 * Why a CONNECT request-target cannot be dialed (undefined when it can): it
 * must be host:port with a host and a decimal port 1-65535, IPv6 literals in
 * brackets. Stricter than upstream, which hands anything to the agent (where
 * an empty host means the agent's own localhost).
 */
export function connectTargetError(target: string): string | undefined {
  let host: string;
  try {
    host = dialHost(target);
  } catch (e) {
    return (e as Error).message;
  }
  const port = target.slice(target.lastIndexOf(':') + 1);
  if (host === '') return `dial address "${target}" is not host:port: missing host`;
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return `dial address "${target}" is not host:port: the port must be a number from 1 to 65535`;
  }
  return undefined;
}

function serveConnect(socket: Duplex, head: RequestHead, peer: string, deps: HttpConnectDeps): void {
  const { relay, metrics } = deps;
  const chunk = deps.limits.httpReadChunkBytes;
  let early: Buffer[] = head.rest.length > 0 ? [head.rest] : [];
  let earlyBytes = head.rest.length;
  let session: ClientSession | undefined;

  /** Sends bytes as DATA (at most `chunk` per packet); pauses the socket while the agent stream is full. */
  const forward = (cid: bigint, buf: Buffer): void => {
    let wait: Promise<void> | void = undefined;
    for (let off = 0; off < buf.length; off += chunk) {
      wait = relay.fromClient(session!, data(cid, buf.subarray(off, off + chunk))) ?? wait;
    }
    if (wait) {
      socket.pause();
      void wait.then(() => {
        if (!socket.destroyed) socket.resume();
      });
    }
  };

  const onEarlyData = (b: Buffer): void => {
    early.push(b);
    earlyBytes += b.length;
    if (earlyBytes > deps.limits.httpMaxHeaderBytes) socket.pause(); // resumes once the dial completes
  };

  const established = (cid: bigint): void => {
    socket.off('data', onEarlyData);
    const pending = early;
    early = [];
    for (const b of pending) forward(cid, b);
    socket.on('data', (b: Buffer) => forward(cid, b));
    socket.resume();
  };

  const failed = (r: HttpErrorResponse): void => {
    session!.log.info('CONNECT failed', { peer, address: head.target, status: r.status, error: r.body });
  };
  const frontend = new HttpConnectFrontend(socket, peer, established, failed);
  session = relay.openSession(frontend);
  session.log = session.log.child({ peer });
  metrics.httpConnections.inc();

  // The client ending its side: before the 200 it gave up the dial; after it, the connection closes.
  socket.once('end', () => {
    const s = session!;
    if (s.state === 'established' && s.connectID !== undefined) void relay.fromClient(s, closeReq(s.connectID));
    else relay.finishSession(s);
  });
  socket.once('close', () => {
    relay.finishSession(session!);
    metrics.httpConnections.dec();
  });

  socket.on('data', onEarlyData);
  socket.resume();
  void relay.fromClient(session, dialReq(head.target, deps.dialIDs()));
}
