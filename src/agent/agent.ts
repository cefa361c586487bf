/**
 * TunnelAgent: the `--mode=agent` role. Validates its config, serves the
 * health and admin endpoints, and keeps one Connect stream per proxy server
 * replica, dialing endpoints for the servers.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { type HttpEndpoint, startHttpEndpoint } from '../observability/http-endpoint.js';
import type { Logger } from '../observability/logger.js';
import { AgentMetrics } from '../observability/metrics.js';
import { type AgentClock, realClock } from './clock.js';
import { ClientSet } from './client-set.js';
import type { AgentConfig } from './config.js';
import { TIMING } from './defaults.js';
import { type EndpointDialer, tcpDialer } from './dialer.js';
import { aliasDialer } from './dial-alias.js';
import { adminRoutes, healthRoutes } from './health.js';
import type { ServerCounter } from './lease-counter.js';
import { authConnector, type ConnectionAuth, openFileAuth } from './connection-auth.js';
import { type ConnectionLimits, connectionLimits } from './limits.js';
import { defaultAgentPullConfig } from './pull/defaults.js';
import type { PullClient } from './pull/pull-client.js';
import { type PullAddresses, PullMode } from './pull/pull-mode.js';
import { connectMetadata, type ServerConnector } from './server-connection.js';
import { StreamSession } from './session.js';
import { validateAgentConfig } from './validate.js';

/** What the agent is given besides its config. */
export interface AgentDeps {
  logger: Logger;
  /** Registry the agent's metrics are registered on (one TunnelAgent per registry). */
  registry: Registry;
  /** Opens endpoint connections; TCP (tcpDialer) by default. */
  dialer?: EndpointDialer;
  /** Timers; the real ones by default. Tests pass a @sinonjs/fake-timers clock. */
  clock?: AgentClock;
  /** Opens server connections; gRPC over TLS (grpcConnector) by default. Tests may swap it. */
  connector?: ServerConnector;
  /**
   * The server count besides the headers. Default: with config.countServerLeases,
   * a LeaseCounter through config.kubeconfig or the in-cluster configuration.
   */
  serverCounter?: ServerCounter;
  /**
   * What server connections authenticate with (connection-auth.ts), or a
   * function of this agent that opens it at start (csr mode may reach the
   * meta cluster through the agent). Default: the config's files, followed
   * on disk. Closed when the agent stops.
   */
  auth?: ConnectionAuth | ((agent: TunnelAgent) => Promise<ConnectionAuth>);
  /** Awaited once the endpoints are up, before the first server connection (pre-start hooks); a rejection fails start(). */
  beforeConnect?: (agent: TunnelAgent) => Promise<void>;
  /** Called after each server connection whose headers arrived (post-start hooks wait for the first). */
  onServerConnected?: () => void;
  /** Overrides of the per-connection bounds and timeouts (limits.ts); for tests. */
  limits?: Partial<ConnectionLimits>;
}

/** Ports bound by start(): the actual port (useful with 0), or -1 when disabled. */
export interface AgentAddresses {
  healthPort?: number;
  adminPort?: number;
  /** Pull mode's listeners, when configured. */
  pull?: PullAddresses;
}

/** Counts of what the agent holds; all 0 after stop(). */
export interface AgentStats {
  /** Open Connect streams (servers whose headers were received). */
  serverConnections: number;
  /** Established endpoint connections over all streams. */
  endpointConnections: number;
  /** Endpoint dials in progress over all streams. */
  pendingDials: number;
}

/** The tunnel agent. */
export class TunnelAgent {
  /** The agent's metrics (upstream names), on deps.registry. */
  readonly metrics: AgentMetrics;
  /**
   * Pull mode, in process: `dial(name)`, `httpAgent()`, `kubeConfig()` reach
   * named services on the server's side over this agent's connections.
   */
  readonly pull: PullClient;
  private readonly pullMode: PullMode;
  private readonly config: AgentConfig;
  private readonly log: Logger;
  private readonly clock: AgentClock;
  private readonly dialer: EndpointDialer;
  private clients: ClientSet | undefined;
  private counter: ServerCounter | undefined;
  private health: HttpEndpoint | undefined;
  private admin: HttpEndpoint | undefined;
  private auth: ConnectionAuth | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(
    config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.config = { ...config, alpnProto: [...config.alpnProto], dialAliases: { ...config.dialAliases } };
    this.metrics = new AgentMetrics(deps.registry);
    this.clock = deps.clock ?? realClock;
    this.dialer = aliasDialer(deps.dialer ?? tcpDialer, this.config.dialAliases);
    this.log = deps.logger;
    this.pullMode = new PullMode({
      config: this.config.pull ?? defaultAgentPullConfig(),
      logger: this.log,
      registry: deps.registry,
      // Pull calls authenticate like the connection they ride on (csr mode: the bootstrap token until the certificate).
      metadata: () => connectMetadata({ ...this.config, serviceAccountTokenPath: this.auth?.current().tokenPath ?? this.config.serviceAccountTokenPath }),
    });
    this.pull = this.pullMode.client;
  }

  /** True while at least one server stream is open and the agent is not draining. */
  get ready(): boolean {
    return this.clients?.ready ?? false;
  }

  /**
   * Validates the config (throws AgentConfigError naming the option), starts
   * the health and admin endpoints and the server connection loop. Resolves
   * without waiting for a server: the agent keeps retrying in the background.
   */
  async start(): Promise<AgentAddresses> {
    if (this.state !== 'new') throw new Error('TunnelAgent.start() may be called once');
    this.state = 'starting';
    const { targets } = validateAgentConfig(this.config);
    if (this.config.agentID === '') {
      this.config.agentID = randomUUID();
      this.log.warn('no agent ID given; using a random one', { agentID: this.config.agentID });
    }
    if (this.config.alpnProto.length > 0) {
      this.log.warn('--alpn-proto is ignored: grpc-js offers only h2 over TLS', { alpnProto: this.config.alpnProto });
    }
    const counter = this.deps.serverCounter ?? (await this.leaseCounter());
    const given = this.deps.auth;
    const auth = (this.auth = typeof given === 'function' ? await given(this) : (given ?? (await openFileAuth(this.config, this.log))));
    const clients = new ClientSet({
      targets,
      ...(counter ? { leaseCount: () => counter.count() } : {}),
      serverCountSource: this.config.serverCountSource,
      connector:
        this.deps.connector ??
        authConnector({
          config: this.config,
          clock: this.clock,
          handshakeTimeoutMs: TIMING.handshakeTimeoutMs,
          auth,
          logger: this.log,
          onConnected: () => this.deps.onServerConnected?.(),
        }),
      createSession: (conn, logger) => {
        this.pullMode.serverConnected(conn, logger);
        return new StreamSession({
          stream: conn.stream,
          ...(conn.flow ? { flow: conn.flow } : {}),
          serverID: conn.serverID,
          dialer: this.dialer,
          dialTimeoutMs: this.config.dialTimeoutMs,
          limits: { ...connectionLimits(this.config.xfrChannelSize), ...this.deps.limits },
          clock: this.clock,
          logger,
          metrics: this.metrics,
        });
      },
      syncIntervalMs: this.config.syncIntervalMs,
      syncIntervalCapMs: this.config.syncIntervalCapMs,
      probeIntervalMs: this.config.probeIntervalMs,
      syncForever: this.config.syncForever,
      clock: this.clock,
      logger: this.log,
      metrics: this.metrics,
    });
    let pullAddresses: PullAddresses;
    try {
      if (this.config.healthServerPort >= 0) {
        this.health = await startHttpEndpoint({
          host: this.config.healthServerHost,
          port: this.config.healthServerPort,
          routes: healthRoutes(
            { serverConnections: () => clients.size, draining: () => clients.isDraining },
            this.deps.registry,
            [this.pullMode.readinessCheck(), ...auth.checks],
          ),
        });
      }
      if (this.config.adminServerPort >= 0) {
        this.admin = await startHttpEndpoint({
          host: this.config.adminBindAddress,
          port: this.config.adminServerPort,
          routes: adminRoutes(
            () => ({
              agentID: this.config.agentID,
              ready: clients.ready,
              draining: clients.isDraining,
              wantedServers: clients.wanted,
              servers: clients.describe(),
            }),
            () => this.health?.port ?? -1,
          ),
        });
      }
      pullAddresses = await this.pullMode.start();
      // Pre-start hooks: after the endpoints (liveness answers), before any server connection.
      await this.deps.beforeConnect?.(this);
    } catch (e) {
      await this.closeEndpoints();
      await auth.close();
      this.state = 'stopped';
      throw e;
    }
    this.clients = clients;
    this.counter = counter;
    this.state = 'running';
    counter?.start();
    clients.start();
    const addresses: AgentAddresses = { healthPort: this.health?.port ?? -1, adminPort: this.admin?.port ?? -1 };
    if (Object.keys(pullAddresses.listen).length > 0 || pullAddresses.proxyPort !== undefined) addresses.pull = pullAddresses;
    this.log.info('agent started', {
      agentID: this.config.agentID,
      servers: targets.map((t) => t.address),
      ...addresses,
    });
    return addresses;
  }

  /** Sends DRAIN to every server, opens no new server connections, turns not ready. Open connections continue. */
  drain(): void {
    this.clients?.drain();
  }

  /** Closes server streams, endpoint sockets, timers and endpoints. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Current counts. */
  stats(): AgentStats {
    const totals = this.clients?.totals() ?? { endpointConnections: 0, pendingDials: 0 };
    return { serverConnections: this.clients?.size ?? 0, ...totals };
  }

  private async doStop(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    this.pullMode.client.shutdown();
    await this.clients?.stop();
    await this.auth?.close();
    await this.pullMode.stop();
    await this.counter?.stop();
    await this.closeEndpoints();
    if (wasRunning) this.log.info('agent stopped');
  }

  /** With --count-server-leases, a LeaseCounter (loaded only then: it brings the Kubernetes client). */
  private async leaseCounter(): Promise<ServerCounter | undefined> {
    if (!this.config.countServerLeases) return undefined;
    const { leaseCounterFromConfig } = await import('./lease-counter.js');
    const counter = leaseCounterFromConfig(this.config, { clock: this.clock, logger: this.log.child({ component: 'lease-counter' }) });
    this.log.info('counting server leases', {
      namespace: this.config.leaseNamespace,
      selector: this.config.leaseLabelSelector,
      serverCountSource: this.config.serverCountSource,
    });
    return counter;
  }

  private async closeEndpoints(): Promise<void> {
    const closing = [this.health?.close(), this.admin?.close()];
    this.health = this.admin = undefined;
    await Promise.all(closing);
  }
}
