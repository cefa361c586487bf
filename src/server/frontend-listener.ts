/**
 * The frontend listeners: a Unix socket and/or a TLS (mTLS) TCP port, each
 * serving gRPC ProxyService and HTTP/1.1 CONNECT on the same socket. The
 * first bytes decide (sniffer.ts): the HTTP/2 preface goes to grpc-js
 * through a connection injector (TLS is already terminated here), an HTTP/1
 * request line to the HTTP/1 handler, anything else is closed as bad input.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { markUnixClient } from '../transport/h2-tuning.js';
import type { Clock } from './clock.js';
import { ServerError } from './errors.js';
import { filterAuthority, MAX_HEADER_BLOCK } from './h2-authority.js';
import { routeH2Client } from './h2-preface.js';
import type { ServerLimits } from './limits.js';
import { respondAndClose } from './http-head.js';
import { type BadInputReason, sniffSocket } from './sniffer.js';

/**
 * ALPN of the mTLS frontend port, in the server's order of preference
 * (OpenSSL picks the first one the client also offers). HTTP CONNECT is
 * HTTP/1.1 only, as upstream's http-connect mode: a client offering both
 * gets http/1.1; gRPC clients offer h2 alone and get h2; a client offering
 * no ALPN gets none, and the first bytes decide.
 */
export const FRONTEND_ALPN: readonly string[] = ['http/1.1', 'h2'];

/** Sniffer failures that came from an HTTP/1 client (a method token was seen): answered before the close. */
const HTTP_ANSWERS: Partial<Record<BadInputReason, { status: number; text: string; body: string }>> = {
  malformed_request_line: { status: 400, text: 'Bad Request', body: 'malformed request line\n' },
  request_line_too_long: { status: 431, text: 'Request Header Fields Too Large', body: 'request line too long\n' },
};

/** Where the frontend listens. */
export interface FrontendListenOptions {
  /** Unix socket path; '' = none. */
  udsPath: string;
  /** Remove an existing file at udsPath before listening. */
  deleteExistingUdsFile: boolean;
  /**
   * TLS settings and address of the TCP frontend; undefined = none.
   * `follow` is called with the created server (to swap its certificate as
   * it changes) and returns the function that stops following.
   */
  tcp?: { host: string; port: number; tls: tls.TlsOptions; follow?: (server: tls.Server) => () => void };
}

/** What the listeners hand sockets to. */
export interface FrontendListenerDeps {
  logger: Logger;
  metrics: ServerMetrics;
  clock: Clock;
  limits: ServerLimits;
  /** grpc-js connection injector of the ProxyService server. */
  injectGrpc(connection: Duplex): void;
  /** HTTP/1.x connections (request line still unread). */
  http1(socket: Duplex, peer: string): void;
}

/** The frontend's own listeners and every socket they accepted. */
export class FrontendListeners {
  private uds: net.Server | undefined;
  private tcp: tls.Server | undefined;
  private udsCreated: string | undefined;
  private unfollow: (() => void) | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** How Unix-socket gRPC connections were handed to HTTP/2: natively, or through the :authority filter. */
  readonly h2Routes = { native: 0, filter: 0 };

  constructor(private readonly deps: FrontendListenerDeps) {}

  /** Starts listening; resolves with the bound UDS path and TCP port. */
  async start(opts: FrontendListenOptions): Promise<{ udsPath?: string; port?: number }> {
    const out: { udsPath?: string; port?: number } = {};
    if (opts.udsPath !== '') {
      if (opts.deleteExistingUdsFile) removeSocketFile(opts.udsPath);
      this.uds = net.createServer((s) => this.accept(s, 'uds', `unix:${opts.udsPath}`));
      await listen(this.uds, { path: opts.udsPath }, `frontend Unix socket ${opts.udsPath}`);
      this.udsCreated = opts.udsPath;
      chmodSync(opts.udsPath, 0o770);
      out.udsPath = opts.udsPath;
    }
    if (opts.tcp) {
      const t = tls.createServer(
        { ...opts.tcp.tls, ALPNProtocols: [...FRONTEND_ALPN], handshakeTimeout: this.deps.limits.sniffTimeoutMs },
        (s) => this.accept(s, 'tls', `${s.remoteAddress}:${s.remotePort}`),
      );
      t.on('tlsClientError', (err, s) => {
        this.deps.metrics.badInput.inc({ source: 'frontend', reason: 'tls_handshake' });
        this.deps.logger.warn('frontend TLS handshake failed', { peer: `${s.remoteAddress}:${s.remotePort}`, error: err.message });
      });
      this.tcp = t;
      this.unfollow = opts.tcp.follow?.(t);
      await listen(t, { host: opts.tcp.host === '' ? undefined : opts.tcp.host, port: opts.tcp.port }, 'frontend TCP port');
      out.port = (t.address() as net.AddressInfo).port;
    }
    return out;
  }

  /** Sockets accepted and not yet closed (any protocol). */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Stops accepting new connections and removes the Unix socket file; open connections stay. */
  async stopAccepting(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const srv of [this.uds, this.tcp]) {
      if (srv?.listening) closing.push(new Promise((r) => srv.close(() => r())));
    }
    this.uds = undefined;
    this.tcp = undefined;
    this.unfollow?.();
    this.unfollow = undefined;
    if (this.udsCreated) {
      removeSocketFile(this.udsCreated);
      this.udsCreated = undefined;
    }
    // server.close() resolves only once every connection is gone; do not wait for that here.
    void Promise.all(closing);
  }

  /** Destroys every accepted socket. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private accept(socket: net.Socket, kind: 'uds' | 'tls', peer: string): void {
    const { logger, metrics } = this.deps;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', (e) => logger.debug('frontend socket error', { peer, error: e.message }));
    void sniffSocket(socket, {
      timeoutMs: this.deps.limits.sniffTimeoutMs,
      maxBytes: this.deps.limits.sniffMaxBytes,
      clock: this.deps.clock,
    }).then((r) => {
      if (r.kind === 'bad') {
        metrics.badInput.inc({ source: 'frontend', reason: r.reason });
        if (r.reason === 'eof') logger.debug('frontend connection closed before sending anything', { peer });
        else logger.warn('frontend connection is neither gRPC nor HTTP/1.1; closed', { peer, reason: r.reason });
        const answer = HTTP_ANSWERS[r.reason];
        // An HTTP/1 client with a broken request line (e.g. a CONNECT without a target) gets a status, as Go's server gives.
        if (answer && !socket.destroyed) respondAndClose(socket, answer.status, answer.text, answer.body);
        else socket.destroy();
        return;
      }
      if (socket.destroyed) return;
      if (r.kind === 'http1') {
        this.deps.http1(socket, peer);
        return;
      }
      if (kind === 'tls') {
        // Node's HTTP/2 server refuses TLS sockets that did not negotiate h2 by
        // ALPN; the preface already proved the client speaks HTTP/2.
        const t = socket as tls.TLSSocket;
        if (t.alpnProtocol !== 'h2') (t as { alpnProtocol: string | false }).alpnProtocol = 'h2';
        this.deps.injectGrpc(socket);
      } else {
        void this.injectUnix(socket, peer);
      }
    });
  }

  /**
   * A Unix-socket gRPC client: natively when its :authority is fine, else
   * through the AuthorityFilter (h2-preface.ts decides).
   */
  private async injectUnix(socket: net.Socket, peer: string): Promise<void> {
    const { logger, metrics } = this.deps;
    const route = await routeH2Client(socket, {
      timeoutMs: this.deps.limits.h2PrefaceTimeoutMs,
      maxBytes: MAX_HEADER_BLOCK,
      clock: this.deps.clock,
    });
    if (route.kind === 'gone' || socket.destroyed) {
      logger.debug('frontend client left during the HTTP/2 pre-handshake', { peer, reason: route.kind === 'gone' ? route.why : 'closed' });
      socket.destroy();
      return;
    }
    this.h2Routes[route.kind]++;
    if (route.kind === 'native') {
      markUnixClient(socket);
      this.deps.injectGrpc(socket);
      return;
    }
    logger.debug('frontend client served through the :authority filter', { peer, reason: route.why });
    this.deps.injectGrpc(
      filterAuthority(
        socket,
        (e) => {
          metrics.badInput.inc({ source: 'frontend', reason: 'h2_header_block' });
          logger.warn('broken HTTP/2 header block from a frontend client; closed', { peer, error: e.message });
        },
        { dropSettingsAck: route.dropSettingsAck },
      ),
    );
  }
}

function listen(server: net.Server, opts: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void =>
      reject(new ServerError('ERR_BAD_CONFIG', `cannot listen on the ${what}: ${e.message}`));
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Removes a stale Unix socket file; refuses to remove anything that is not a socket. */
function removeSocketFile(p: string): void {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new ServerError('ERR_BAD_CONFIG', `${p} exists and is not a Unix socket; refusing to remove it`);
  }
  unlinkSync(p);
}
