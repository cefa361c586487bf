/**
 * Tunnel: a reusable konnectivity client, like upstream's `CreateGRPCTunnel`.
 * One gRPC channel (one HTTP/2 connection) to the proxy server's frontend;
 * every dial opens its own Proxy stream on it. Each stream is single use:
 * one DIAL_REQ, one connection, then the stream ends. The tunnel itself can
 * be dialed any number of times, concurrently.
 */
import { silentLogger, type Logger } from '../observability/logger.js';
import type { ClientMetrics } from '../observability/metrics.js';
import { randomDialID, type DialIDSource, TEXT } from '../protocol/index.js';
import { openTransport, type TunnelTransport } from './channel.js';
import { ProxyConnection } from './connection.js';
import { CLOSE_TIMEOUT_MS, CONNECT_TIMEOUT_MS, DIAL_TIMEOUT_MS } from './defaults.js';
import { DialError, type DialFailureReason } from './errors.js';
import { type ClientTimers, type DialOptions, systemTimers, type TunnelOptions } from './options.js';
import { TunnelSocket } from './tunnel-socket.js';

/**
 * Connects to a proxy server's frontend and returns a tunnel to dial through.
 * Waits until the server is reachable (up to `connectTimeoutMs`); rejects
 * with TunnelError `ERR_TUNNEL_CONNECT` otherwise, `ERR_INVALID_OPTIONS` for bad options.
 *
 * @example
 * const tunnel = await createTunnel({ uds: '/etc/kubernetes/konnectivity-server/konnectivity-server.socket' });
 * const socket = await tunnel.dial('10.0.0.5:10250');
 * socket.write(request);
 * socket.on('data', (b) => ...);
 * await tunnel.close();
 */
export async function createTunnel(opts: TunnelOptions): Promise<Tunnel> {
  const ch = openTransport(opts);
  try {
    await ch.ready(opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
  } catch (e) {
    ch.close();
    throw e;
  }
  return new Tunnel(ch, opts);
}

/** A reusable tunnel to a proxy server: dial as often as needed, close once. */
export class Tunnel {
  private readonly conns = new Set<ProxyConnection>();
  private idleWaiters: (() => void)[] = [];
  private closing: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly metrics: ClientMetrics | undefined;
  private readonly timers: ClientTimers;
  private readonly nextDialID: DialIDSource;
  private readonly dialTimeoutMs: number;
  private readonly closeTimeoutMs: number;

  /** Use createTunnel(). */
  constructor(
    private readonly channel: TunnelTransport,
    opts: Omit<TunnelOptions, 'uds' | 'address' | 'tls'>,
  ) {
    this.logger = (opts.logger ?? silentLogger()).child({ component: 'tunnel-client', target: channel.target });
    this.metrics = opts.metrics;
    this.timers = opts.timers ?? systemTimers;
    this.nextDialID = opts.dialIDSource ?? randomDialID;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DIAL_TIMEOUT_MS;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
  }

  /** The gRPC target of the proxy server, for logs. */
  get target(): string {
    return this.channel.target;
  }

  /** Proxy streams not yet fully finished (pending dials, open and closing connections). */
  get openStreams(): number {
    return this.conns.size;
  }

  /** Resolves once no Proxy stream of this tunnel is open (every connection fully finished). */
  idle(): Promise<void> {
    if (this.conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Dials `address` ("host:port") through the tunnel on a new Proxy stream:
   * DIAL_REQ{"tcp", address, random 63-bit dial id}, then waits for the
   * DIAL_RSP with that id. Rejects with a DialError whose `reason` is
   * `endpoint` (the DIAL_RSP error text is in `endpointError`), `timeout`
   * (backstop), `context` (signal or timeoutMs), `dialclosed`,
   * `tunnelclosed`, `streamsetup` or `unknown`. On timeout or abort it sends
   * DIAL_CLS before ending the stream.
   */
  async dial(address: string, opts: DialOptions = {}): Promise<TunnelSocket> {
    const dialID = this.nextDialID();
    if (this.closing) throw this.refuse('tunnelclosed', TEXT.clientTunnelClosed, address, dialID);
    if (opts.signal?.aborted) {
      throw this.refuse('context', TEXT.clientContext, address, dialID, opts.signal.reason);
    }
    let conn: ProxyConnection;
    try {
      conn = new ProxyConnection(this.channel.openStream(), {
        address,
        dialID,
        logger: this.logger,
        metrics: this.metrics,
        timers: this.timers,
        closeTimeoutMs: this.closeTimeoutMs,
      });
    } catch (e) {
      throw this.refuse('streamsetup', `failed to open proxy stream: ${(e as Error).message}`, address, dialID, e);
    }
    this.conns.add(conn);
    void conn.finished.then(() => this.forget(conn));
    await conn.dial(this.dialTimeoutMs, opts);
    if (!conn.isEstablished) {
      // Closed between DIAL_RSP and now (tunnel closed or stream lost): no socket to hand out.
      throw new DialError('tunnelclosed', TEXT.clientTunnelClosed, { address, dialID });
    }
    return new TunnelSocket(conn, { address, dialID }, this.timers);
  }

  /**
   * Closes the tunnel: pending dials fail with reason `tunnelclosed`, open
   * sockets are destroyed (CLOSE_REQ sent), then the channel is closed once
   * every stream has finished (each within closeTimeoutMs). Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.logger.debug('closing tunnel', { streams: this.conns.size });
      const all = [...this.conns];
      for (const c of all) c.shutdown();
      this.closing = Promise.all(all.map((c) => c.finished)).then(() => this.channel.close());
    }
    return this.closing;
  }

  private forget(conn: ProxyConnection): void {
    this.conns.delete(conn);
    if (this.conns.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private refuse(reason: DialFailureReason, message: string, address: string, dialID: bigint, cause?: unknown): DialError {
    this.metrics?.dialFailures.inc({ reason });
    return new DialError(reason, message, { address, dialID, cause });
  }
}
