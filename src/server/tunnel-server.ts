/**
 * TunnelServer: wires the frontend listeners, the agent listener, the relay
 * and the HTTP endpoints together, and takes them down again.
 */
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { HttpEndpoint } from '../observability/http-endpoint.js';
import type { Logger } from '../observability/logger.js';
import { ServerMetrics } from '../observability/metrics.js';
import { type DialIDSource, randomDialID } from '../protocol/index.js';
import { flowServiceDefinition } from '../transport/flow-wire.js';
import { tuneGrpcServer, tuneGrpcServerFor } from '../transport/h2-tuning.js';
import { GrpcPacketStream } from '../transport/packet-stream.js';
import { pullServiceDefinition } from '../transport/pull-service.js';
import { agentServiceDefinition, proxyServiceDefinition } from '../transport/services.js';
import { agentServerCredentials } from './agent-credentials.js';
import { gateAgentTls } from './agent-tls-gate.js';
import { mtlsAuthenticatorFor } from './auth/mtls.js';
import { allowAllAuthenticator, type AgentAuthenticator } from './auth/types.js';
import { type Clock, systemClock } from './clock.js';
import type { ServerConfig } from './config.js';
import { type AgentEvents, makeConnectHandler } from './connect-handler.js';
import { connectionsView } from './connections-view.js';
import { agentsView, startAdminEndpoint, startHealthEndpoint } from './endpoints.js';
import { ServerError } from './errors.js';
import { frontendTlsOptions, openFileServerTls, type ServerTls } from './server-tls.js';
import { FlowStreams } from './flow-streams.js';
import { FrontendListeners } from './frontend-listener.js';
import { staticServerHA } from './ha/static-ha.js';
import type { ServerHA } from './ha/types.js';
import { AGENT_LISTENER_H2, agentServerOptions, defaultSendBufferBytes, frontendServerOptions, frontendTuning } from './grpc-options.js';
import { serveProxyStream } from './grpc-frontend.js';
import { makeHttpConnectHandler } from './http-connect.js';
import { makeHttp1Handler } from './http1-handler.js';
import { DEFAULT_HTTP_CONNECT_HEADER_TIMEOUT_MS, resolveLimits, type ServerLimits } from './limits.js';
import { defaultPullServerConfig } from './pull/defaults.js';
import { PullService } from './pull/pull-service.js';
import { BackendRegistry } from './registry.js';
import { Relay } from './relay.js';

/** What the server is given besides its configuration. */
export interface ServerDeps {
  logger: Logger;
  /** Metrics are registered here (no global registry). */
  registry: Registry;
  /** Default: mTLS identity when clusterCaCert is set, else allow-all. */
  authenticator?: AgentAuthenticator;
  /** Default: the system clock. Tests pass a fake one. */
  clock?: Clock;
  /** Overrides of internal bounds and timeouts (limits.ts); for tests. */
  limits?: Partial<ServerLimits>;
  /** Random source of the backend strategies, a float in [0, 1); default Math.random. */
  random?: () => number;
  /** Dial ids of HTTP CONNECT dials; default randomDialID. */
  dialIDs?: DialIDSource;
  /**
   * Replica membership: the `servercount` sent to agents, started after the
   * listeners and stopped first on shutdown. Default: config.serverCount
   * (main.ts passes Leases with --enable-lease-controller; see ha/from-config.ts).
   */
  ha?: ServerHA;
  /**
   * Certificates of the agent port and the TCP frontend, followed as they
   * change. Default: the flag files (server-tls.ts); main.ts passes the CSR
   * ones with --cert-source=csr. Closed on shutdown.
   */
  tls?: ServerTls;
  /** Told when an agent's first stream registers and its last one goes (server hooks). */
  agentEvents?: AgentEvents;
}

/** The actually bound addresses. */
export interface ServerAddresses {
  /** The frontend Unix socket, when configured. */
  udsPath?: string;
  /** The frontend TCP (mTLS) port, when configured. */
  frontendPort?: number;
  agentPort: number;
  /** -1 = disabled. */
  healthPort?: number;
  /** -1 = disabled. */
  adminPort?: number;
}

/** Live counts; all return to 0 once clients and agents are gone. */
export interface ServerStats {
  /** Connected agents (by id). */
  agents: number;
  /** Agent Connect streams (an agent may have several). */
  agentStreams: number;
  pendingDials: number;
  /** Established end-to-end connections. */
  established: number;
  /** Open gRPC Proxy streams. */
  frontendStreams: number;
  /** Open HTTP CONNECT tunnels. */
  httpConnections: number;
}

/** The tunnel server (`tunnel --mode=server`). */
export class TunnelServer {
  /** The server's metrics, on deps.registry. */
  readonly metrics: ServerMetrics;
  /** Pull mode: named targets agents may reach through the agent port (src/server/pull). */
  readonly pull: PullService;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly limits: ServerLimits;
  private readonly registry: BackendRegistry;
  private readonly relay: Relay;
  /** Per-connection flow control with our agents (flow-streams.ts). */
  private readonly flow: FlowStreams;
  private readonly ha: ServerHA;
  private agentServer: grpc.Server | undefined;
  private frontendServer: grpc.Server | undefined;
  private injector: ReturnType<grpc.Server['createConnectionInjector']> | undefined;
  private listeners: FrontendListeners | undefined;
  private tls: ServerTls | undefined;
  private endpoints: HttpEndpoint[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly config: ServerConfig,
    private readonly deps: ServerDeps,
  ) {
    this.metrics = new ServerMetrics(deps.registry);
    this.log = deps.logger.child({ serverID: config.serverID });
    this.clock = deps.clock ?? systemClock;
    this.limits = resolveLimits(deps.limits);
    this.ha = deps.ha ?? staticServerHA(config.serverCount);
    this.pull = new PullService({
      config: config.pull ?? defaultPullServerConfig(),
      logger: this.log,
      registry: deps.registry,
      clock: this.clock,
    });
    this.registry = new BackendRegistry(config.proxyStrategies, this.metrics, deps.random);
    this.flow = new FlowStreams({
      logger: this.log,
      metrics: this.metrics,
      clock: this.clock,
      windowBytes: this.limits.flowWindowBytes,
      maxWindowBytes: this.limits.flowMaxWindowBytes,
      attachTimeoutMs: this.limits.flowAttachTimeoutMs,
      downlink: this.limits.flowDownlink,
    });
    this.relay = new Relay({
      logger: this.log,
      metrics: this.metrics,
      registry: this.registry,
      clock: this.clock,
      limits: this.limits,
      backendDialTimeoutMs: config.backendDialTimeoutMs,
      xfrChannelSize: Math.max(1, config.xfrChannelSize),
    });
  }

  /** Binds every listener; resolves with the bound addresses. On failure everything started is released. */
  async start(): Promise<ServerAddresses> {
    try {
      return await this.startAll();
    } catch (e) {
      await this.shutdown({ graceful: false });
      throw e;
    }
  }

  private async startAll(): Promise<ServerAddresses> {
    const c = this.config;
    const eph = c.allowEphemeralPorts === true;
    const port = (name: string, v: number): number => {
      if (v === 0 && !eph) throw new ServerError('ERR_BAD_CONFIG', `${name} 0 needs allowEphemeralPorts`);
      return v;
    };

    // Agent listener: always TLS; a new certificate reaches new handshakes (server-tls.ts).
    const certs = (this.tls = this.deps.tls ?? (await openFileServerTls(c, this.log)));
    const creds = agentServerCredentials(certs.agent, { clientCerts: certs.clientCerts, minVersion: c.tlsMinVersion, ciphers: c.cipherSuites });
    const authenticator =
      this.deps.authenticator ??
      (certs.clientCerts === 'require' ? mtlsAuthenticatorFor({ bindCommonName: c.bindAgentIdToCn }) : allowAllAuthenticator);
    this.agentServer = new grpc.Server(agentServerOptions(c, this.limits));
    tuneGrpcServer(this.agentServer, AGENT_LISTENER_H2);
    // A presented certificate that does not verify is refused right after the handshake (csr mode), and logged (both modes).
    gateAgentTls(this.agentServer, {
      logger: this.log,
      metrics: this.metrics,
      clientCerts: certs.clientCerts,
      trustedCa: certs.clientCerts === 'require' ? 'the CA of --cluster-ca-cert' : c.clusterCaCert ? 'the tunnel CA (or --cluster-ca-cert)' : 'the tunnel CA',
    });
    this.agentServer.addService(agentServiceDefinition, {
      Connect: makeConnectHandler({
        relay: this.relay,
        authenticator,
        serverID: c.serverID,
        serverCount: () => this.ha.serverCount(),
        logger: this.log,
        metrics: this.metrics,
        ...(this.deps.agentEvents ? { events: this.deps.agentEvents } : {}),
        flow: this.flow,
      }),
    });
    this.agentServer.addService(flowServiceDefinition, { Credits: this.flow.creditsHandler(), Downlink: this.flow.downlinkHandler() });
    this.agentServer.addService(pullServiceDefinition, this.pull.handlers(authenticator));
    const agentPort = await bind(this.agentServer, c.agentBindAddress, port('agent port', c.agentPort), creds);

    // Frontend: gRPC through the injector, HTTP/1 CONNECT, on our own listeners.
    this.frontendServer = new grpc.Server(frontendServerOptions(c, this.limits));
    tuneGrpcServerFor(this.frontendServer, frontendTuning(defaultSendBufferBytes()));
    this.frontendServer.addService(proxyServiceDefinition, {
      Proxy: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        void serveProxyStream(new GrpcPacketStream(call, 'server', frontendPeer(call, c.udsName)), this.relay, this.metrics);
      },
    });
    const injector = this.frontendServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    const http1 = makeHttp1Handler({
      logger: this.log,
      metrics: this.metrics,
      clock: this.clock,
      headerTimeoutMs: c.httpConnectHeaderTimeoutMs ?? DEFAULT_HTTP_CONNECT_HEADER_TIMEOUT_MS,
      maxHeaderBytes: this.limits.httpMaxHeaderBytes,
      connect: makeHttpConnectHandler({
        relay: this.relay,
        metrics: this.metrics,
        logger: this.log,
        limits: this.limits,
        dialIDs: this.deps.dialIDs ?? randomDialID,
      }),
    });
    this.listeners = new FrontendListeners({
      logger: this.log,
      metrics: this.metrics,
      clock: this.clock,
      limits: this.limits,
      injectGrpc: (conn: Duplex) => injector.injectConnection(conn),
      http1,
    });
    const tcpWanted = c.tcpFrontend ?? (c.serverPort > 0 || (c.serverPort === 0 && c.udsName === '' && eph));
    if (!tcpWanted && c.udsName === '') {
      throw new ServerError('ERR_BAD_CONFIG', 'no frontend: set --uds-name or --server-port');
    }
    let tcp;
    if (tcpWanted) {
      tcp = { host: c.serverBindAddress, port: c.serverPort, ...frontendTlsOptions(await certs.openFrontend(), c, this.log) };
    }
    const fe = await this.listeners.start({
      udsPath: c.udsName,
      deleteExistingUdsFile: c.deleteExistingUdsFile,
      ...(tcp ? { tcp } : {}),
    });

    const out: ServerAddresses = { agentPort, healthPort: -1, adminPort: -1 };
    if (fe.udsPath !== undefined) out.udsPath = fe.udsPath;
    if (fe.port !== undefined) out.frontendPort = fe.port;
    if (c.healthPort >= 0) {
      const ep = await startHealthEndpoint({
        host: c.healthBindAddress,
        port: port('health port', c.healthPort),
        registry: this.deps.registry,
        readyAgents: () => this.registry.readyAgents(),
        checks: certs.checks,
      });
      this.endpoints.push(ep);
      out.healthPort = ep.port;
    }
    if (c.adminPort >= 0) {
      const ep = await startAdminEndpoint({
        host: c.adminBindAddress,
        port: port('admin port', c.adminPort),
        registry: this.deps.registry,
        agents: () => agentsView(this.registry, this.clock),
        replica: () => ({ serverID: c.serverID, serverCount: this.ha.serverCount(), ha: this.ha.describe() }),
        stats: () => ({ ...this.stats() }),
        connections: () => connectionsView(this.relay, this.clock),
      });
      this.endpoints.push(ep);
      out.adminPort = ep.port;
    }
    this.ha.start();
    this.log.info('tunnel server started', { ...out, strategies: c.proxyStrategies.join(',') });
    return out;
  }

  /**
   * Stops the server. graceful (default true): stop accepting, let open
   * client connections finish for up to gracefulShutdownTimeoutMs, then close
   * everything; graceful=false or a timeout of 0 closes at once. Every
   * listener, socket and timer is released and the Unix socket removed.
   */
  shutdown(opts: { graceful?: boolean } = {}): Promise<void> {
    this.stopping ??= this.stopAll(opts.graceful !== false);
    return this.stopping;
  }

  private async stopAll(graceful: boolean): Promise<void> {
    // Withdraw first (delete the Lease), so agents stop counting this replica.
    await this.ha.stop();
    await this.listeners?.stopAccepting();
    const grace = graceful ? this.config.gracefulShutdownTimeoutMs : 0;
    if (grace > 0 && this.relay.sessions.size > 0) {
      this.log.info('waiting for open connections to finish', { connections: this.relay.sessions.size, timeoutMs: grace });
      this.injector?.drain(grace);
      let timer: unknown;
      await Promise.race([
        this.relay.whenIdle(),
        new Promise<void>((r) => (timer = this.clock.setTimeout(r, grace))),
      ]);
      this.clock.clearTimeout(timer);
    }
    this.relay.abortAll(new ServerError('ERR_SHUTTING_DOWN', 'the tunnel server is shutting down'));
    for (const streams of [...this.registry.byAgent().values()]) {
      for (const b of [...streams]) {
        b.stream.close({ code: grpc.status.UNAVAILABLE, message: 'the tunnel server is shutting down' });
        this.relay.removeBackend(b);
      }
    }
    this.pull.shutdown();
    this.injector?.destroy();
    this.flow.closeAll();
    this.frontendServer?.forceShutdown();
    this.agentServer?.forceShutdown();
    this.listeners?.destroyAll();
    await Promise.all(this.endpoints.map((e) => e.close()));
    this.endpoints = [];
    await this.tls?.close();
    this.log.info('tunnel server stopped');
  }

  /** Live counts (tests assert they return to zero). */
  stats(): ServerStats {
    const r = this.relay.stats();
    let grpcStreams = 0;
    for (const s of this.relay.sessions) if (s.frontend.kind === 'grpc') grpcStreams++;
    return {
      agents: this.registry.agentCount(),
      agentStreams: this.registry.streamCount(),
      pendingDials: r.pendingDials,
      established: r.established,
      frontendStreams: grpcStreams,
      httpConnections: r.sessions - grpcStreams,
    };
  }
}

/**
 * The client of a Proxy call, for logs: its TCP address and certificate
 * subject (mTLS frontend), or for a Unix socket client (grpc-js finds no
 * address on it and says "unknown") the socket it came through.
 */
function frontendPeer(call: grpc.ServerDuplexStream<Buffer, Buffer>, udsName: string): string {
  const peer = call.getPeer();
  if (peer === 'unknown' && udsName !== '') return `unix:${udsName}`;
  const cn = call.getAuthContext()?.sslPeerCertificate?.subject?.CN;
  const subject = Array.isArray(cn) ? cn[0] : cn;
  return subject ? `${peer} (CN=${subject})` : peer;
}

/** grpc-js address for a bind host ('' = every interface). */
function grpcAddress(host: string, port: number): string {
  if (host === '') return `[::]:${port}`;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function bind(server: grpc.Server, host: string, port: number, creds: grpc.ServerCredentials): Promise<number> {
  const attempt = (addr: string): Promise<number> =>
    new Promise((resolve, reject) =>
      server.bindAsync(addr, creds, (err, p) =>
        err ? reject(new ServerError('ERR_BAD_CONFIG', `cannot listen on the agent port ${addr}: ${err.message}`)) : resolve(p),
      ),
    );
  try {
    return await attempt(grpcAddress(host, port));
  } catch (e) {
    if (host !== '') throw e;
    return attempt(`0.0.0.0:${port}`); // no IPv6 on this host
  }
}
