/**
 * The client set (upstream ClientSet): one Connect stream per distinct
 * server id, up to the server count.
 *
 * - Sync: right away, then every syncIntervalMs (+10 % jitter), if fewer
 *   streams than wanted are open (or always with syncForever), open one new
 *   connection. A server id already held is closed and retried next tick.
 *   Errors grow the interval ×1.5 up to syncIntervalCapMs; a success resets it.
 *   The count wanted (server-count.ts) is the `servercount` of the last
 *   newly added server, or the live Lease count (--count-server-leases,
 *   --server-count-source), and at least the number of listed addresses.
 * - Addresses (beyond upstream): with several, each attempt goes to the next
 *   address that holds no stream yet, else round-robin.
 * - Probe: every probeIntervalMs a stream whose channel is not READY is removed.
 * - Each stream is served independently; losing one never touches the others.
 */
import type { Logger } from '../observability/logger.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { SyncBackoff } from './backoff.js';
import type { AgentClock } from './clock.js';
import { TIMING } from './defaults.js';
import { AgentError, ServerRefusedError } from './errors.js';
import { grpcCodeName } from './grpc-options.js';
import { type ServerCountSource, wantedServers } from './server-count.js';
import type { ServerConnection, ServerConnector } from './server-connection.js';
import type { ServerTarget } from './server-target.js';
import type { EndpointConnInfo, StreamSession } from './session.js';

/** What a ClientSet needs. */
export interface ClientSetOptions {
  targets: ServerTarget[];
  connector: ServerConnector;
  /** Builds the session serving a new unique server connection; `logger` carries serverID. */
  createSession(conn: ServerConnection, logger: Logger): StreamSession;
  syncIntervalMs: number;
  syncIntervalCapMs: number;
  probeIntervalMs: number;
  syncForever: boolean;
  /** Live server Leases (--count-server-leases); unset: the count comes from the headers. */
  leaseCount?: () => number;
  /** --server-count-source; default 'default'. */
  serverCountSource?: ServerCountSource;
  clock: AgentClock;
  /** Uniform in [0, 1), for jitter; Math.random by default. */
  random?: () => number;
  logger: Logger;
  metrics: AgentMetrics;
}

/** One server connection as the admin view shows it. */
export interface ServerConnectionInfo {
  serverID: string;
  address: string;
  peer: string;
  connectedAt: string;
  pendingDials: number;
  /** True when the server confirmed per-connection flow control on this stream (FLOW-CONTROL.md). */
  flowControl: boolean;
  /** True once the server attached the Downlink stream (server→agent bytes on a second connection). */
  downlink: boolean;
  endpointConnections: EndpointConnInfo[];
}

interface Entry {
  conn: ServerConnection;
  session: StreamSession;
  connectedAt: number;
  served: Promise<string>;
}

type Outcome = 'enough' | 'added' | 'duplicate' | 'error';

/** Keeps one stream per server replica, reconnecting with backoff. */
export class ClientSet {
  private readonly entries = new Map<string, Entry>();
  private readonly backoff: SyncBackoff;
  private readonly log: Logger;
  private serverCount = 0;
  private rr = 0;
  private syncTimer: unknown = undefined;
  private probeTimer: unknown = undefined;
  private attempt: AbortController | undefined;
  private ticking: Promise<void> | undefined;
  private started = false;
  private draining = false;
  private stopped = false;

  constructor(private readonly o: ClientSetOptions) {
    this.log = o.logger;
    this.backoff = new SyncBackoff({
      baseMs: o.syncIntervalMs,
      capMs: o.syncIntervalCapMs,
      factor: TIMING.syncBackoffFactor,
      jitter: TIMING.syncJitter,
      ...(o.random ? { random: o.random } : {}),
    });
  }

  /** Open streams (servers with their headers received). */
  get size(): number {
    return this.entries.size;
  }

  /** The number of streams wanted. */
  get wanted(): number {
    return wantedServers({
      source: this.o.serverCountSource ?? 'default',
      header: this.serverCount,
      leases: this.o.leaseCount?.(),
      addresses: this.o.targets.length,
    });
  }

  /** True when at least one stream is open and the set is not draining. */
  get ready(): boolean {
    return !this.draining && !this.stopped && this.entries.size > 0;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Starts the sync and probe loops (the first attempt right away). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.o.metrics.knownServerCount.set(this.wanted);
    this.runTick();
    this.scheduleProbe();
  }

  /** Sends DRAIN on every stream and opens no new ones; existing streams keep serving. */
  drain(): void {
    if (this.draining || this.stopped) return;
    this.draining = true;
    this.o.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.attempt?.abort();
    for (const e of this.entries.values()) e.session.sendDrain();
    this.log.info('draining: DRAIN sent to every proxy server; no new server connections', { servers: this.entries.size });
  }

  /** Closes every stream and stops the loops. Resolves when all is released; idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.o.clock.clearTimeout(this.syncTimer);
    this.o.clock.clearTimeout(this.probeTimer);
    this.syncTimer = this.probeTimer = undefined;
    this.attempt?.abort();
    const served = [...this.entries.values()].map((e) => {
      e.session.close('agent stopping');
      e.conn.close();
      return e.served;
    });
    await Promise.all([...served, this.ticking]);
  }

  /** Endpoint connections and dials in progress over all streams. */
  totals(): { endpointConnections: number; pendingDials: number } {
    let endpointConnections = 0;
    let pendingDials = 0;
    for (const e of this.entries.values()) {
      const s = e.session.stats();
      endpointConnections += s.endpointConnections;
      pendingDials += s.pendingDials;
    }
    return { endpointConnections, pendingDials };
  }

  /** The open streams, for the admin view. */
  describe(): ServerConnectionInfo[] {
    return [...this.entries.values()].map((e) => ({
      serverID: e.conn.serverID,
      address: e.conn.target.address,
      peer: e.conn.stream.peer,
      connectedAt: new Date(e.connectedAt).toISOString(),
      pendingDials: e.session.stats().pendingDials,
      flowControl: e.session.flowControlled,
      downlink: e.session.downlink,
      endpointConnections: e.session.connections(),
    }));
  }

  private runTick(): void {
    this.syncTimer = undefined;
    if (this.stopped || this.draining) return;
    this.ticking = this.tick().finally(() => (this.ticking = undefined));
  }

  private async tick(): Promise<void> {
    const outcome = await this.connectOnce();
    if (this.stopped || this.draining) return;
    let wait: number;
    switch (outcome) {
      case 'enough':
      case 'added':
        wait = this.backoff.reset();
        break;
      case 'duplicate':
        // Upstream #816: while servers are missing, a duplicate must not slow the search down.
        wait = this.entries.size >= this.wanted ? this.backoff.step() : this.backoff.same();
        break;
      case 'error':
        wait = this.backoff.step();
        break;
    }
    this.syncTimer = this.o.clock.setTimeout(() => this.runTick(), wait);
  }

  private async connectOnce(): Promise<Outcome> {
    this.o.metrics.knownServerCount.set(this.wanted);
    if (!this.o.syncForever && this.entries.size >= this.wanted) return 'enough';
    const target = this.pickTarget();
    const attempt = new AbortController();
    this.attempt = attempt;
    let conn: ServerConnection;
    try {
      conn = await this.o.connector(target, attempt.signal);
    } catch (e) {
      if (!this.stopped && !this.draining) this.connectFailed(target, e);
      return 'error';
    } finally {
      this.attempt = undefined;
    }
    if (this.stopped || this.draining) {
      conn.close();
      return 'enough';
    }
    if (this.entries.has(conn.serverID)) {
      conn.close();
      this.log.debug('connection reached a server already connected; closed, will retry', {
        serverID: conn.serverID,
        address: target.address,
        servers: this.entries.size,
        wanted: this.wanted,
      });
      return 'duplicate';
    }
    this.add(conn);
    return 'added';
  }

  private add(conn: ServerConnection): void {
    const log = this.log.child({ serverID: conn.serverID });
    const session = this.o.createSession(conn, log);
    const entry: Entry = { conn, session, connectedAt: this.o.clock.now(), served: session.serve() };
    this.entries.set(conn.serverID, entry);
    // The count is taken only from a newly added unique server (upstream v0.34+).
    this.serverCount = conn.serverCount;
    this.o.metrics.knownServerCount.set(this.wanted);
    this.o.metrics.openServerConnections.set(this.entries.size);
    log.info('connected to proxy server', {
      address: conn.target.address,
      peer: conn.stream.peer,
      serverCount: conn.serverCount,
      servers: this.entries.size,
    });
    void entry.served.then((why) => {
      conn.close();
      if (this.entries.get(conn.serverID) === entry) this.entries.delete(conn.serverID);
      this.o.metrics.openServerConnections.set(this.entries.size);
      log.info('proxy server connection closed', { address: conn.target.address, reason: why, servers: this.entries.size });
    });
  }

  private connectFailed(target: ServerTarget, e: unknown): void {
    const m = this.o.metrics;
    m.serverConnectionFailures.inc({ direction: 'to_server' });
    if (e instanceof ServerRefusedError) m.stream.error('to_agent', grpcCodeName(e.grpcCode));
    const fields = {
      address: target.address,
      code: e instanceof AgentError ? e.code : undefined,
      error: (e as Error).message,
      retryInMs: Math.round(this.backoff.intervalMs),
    };
    if (e instanceof ServerRefusedError && e.code === 'ERR_SERVER_REFUSED') {
      this.log.warn('proxy server refused the connection', fields);
    } else {
      this.log.warn('cannot connect to proxy server', fields);
    }
  }

  private pickTarget(): ServerTarget {
    const targets = this.o.targets;
    const held = new Set([...this.entries.values()].map((e) => e.conn.target.address));
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(this.rr + i) % targets.length]!;
      if (!held.has(t.address)) {
        this.rr = (this.rr + i + 1) % targets.length;
        return t;
      }
    }
    const t = targets[this.rr % targets.length]!;
    this.rr = (this.rr + 1) % targets.length;
    return t;
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.probeTimer = this.o.clock.setTimeout(() => {
      this.probeTimer = undefined;
      this.probe();
      this.scheduleProbe();
    }, this.o.probeIntervalMs);
  }

  private probe(): void {
    for (const [id, e] of this.entries) {
      if (e.conn.isReady()) continue;
      this.entries.delete(id);
      this.o.metrics.openServerConnections.set(this.entries.size);
      this.log.info('removing a server connection whose channel is not ready', { serverID: id, address: e.conn.target.address });
      e.session.close('channel not ready');
      e.conn.close();
    }
  }
}
