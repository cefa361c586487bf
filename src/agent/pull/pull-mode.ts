/**
 * Pull mode of the agent, wired: the pool of pull-capable server
 * connections, the in-process client, the local listeners (port forwards and
 * the CONNECT proxy), the metrics and the readiness check. TunnelAgent
 * creates one and hands it each new server connection.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { systemTimers, type ClientTimers } from '../../client/options.js';
import type { NamedCheck } from '../../observability/http-endpoint.js';
import type { Logger } from '../../observability/logger.js';
import { PullMetrics } from '../../observability/pull-metrics.js';
import type { ServerConnection } from '../server-connection.js';
import type { AgentPullConfig } from './config.js';
import { ConnectProxy } from './connect-proxy.js';
import { PULL_TIMING } from './defaults.js';
import { PortForward } from './port-forward.js';
import { PullClient } from './pull-client.js';
import { pullReadinessCheck } from './readiness.js';
import { PullServers } from './server-pool.js';

/** What PullMode needs. */
export interface PullModeDeps {
  config: AgentPullConfig;
  logger: Logger;
  /** The pull metrics are registered here. */
  registry: Registry;
  /** Request metadata of pull calls: the same as Connect's (agentid, agentidentifiers, token). */
  metadata: () => Promise<grpc.Metadata>;
  /** Timers of pull connections; real unref'd ones by default. */
  timers?: ClientTimers;
}

/** The bound ports of the pull listeners. */
export interface PullAddresses {
  /** Port forwards: target name → bound port. */
  listen: Record<string, number>;
  /** The CONNECT proxy's bound port, when configured. */
  proxyPort?: number;
}

/** The agent's pull mode. */
export class PullMode {
  /** The in-process API (agent.pull). */
  readonly client: PullClient;
  readonly metrics: PullMetrics;
  private readonly servers: PullServers;
  private readonly log: Logger;
  private forwards: PortForward[] = [];
  private proxy: ConnectProxy | undefined;

  constructor(private readonly d: PullModeDeps) {
    this.log = d.logger.child({ component: 'pull' });
    this.metrics = new PullMetrics(d.registry);
    this.servers = new PullServers({ metadata: d.metadata, logger: this.log, listTargetsTimeoutMs: PULL_TIMING.listTargetsTimeoutMs });
    this.client = new PullClient({
      servers: this.servers,
      metadata: d.metadata,
      logger: this.log,
      metrics: this.metrics,
      timers: d.timers ?? systemTimers,
      configuredNames: [...d.config.listen.map((l) => l.name), d.config.kube.target],
      kube: d.config.kube,
    });
  }

  /** A new server connection (from the client set): pull streams may use its channel. */
  serverConnected(conn: ServerConnection, logger: Logger): void {
    this.servers.add(conn, logger.child({ component: 'pull' }));
  }

  /** The `pull` check of /readyz (never failing; verbose says whether pull is available). */
  readinessCheck(): NamedCheck {
    return pullReadinessCheck(this.servers);
  }

  /** Binds the listeners; on failure the ones already bound are closed and the error is thrown. */
  async start(): Promise<PullAddresses> {
    const out: PullAddresses = { listen: {} };
    try {
      for (const l of this.d.config.listen) {
        const f = await PortForward.start(l, this.client, this.log);
        this.forwards.push(f);
        out.listen[l.name] = f.port;
      }
      if (this.d.config.proxy) {
        this.proxy = await ConnectProxy.start(this.d.config.proxy, this.client, this.log);
        out.proxyPort = this.proxy.port;
      }
    } catch (e) {
      await this.closeListeners();
      throw e;
    }
    if (this.forwards.length > 0 || this.proxy) this.log.info('pull listeners started', { ...out.listen, proxyPort: out.proxyPort });
    return out;
  }

  /** Stops the listeners and ends every pull connection; resolves once they are all gone. */
  async stop(): Promise<void> {
    this.client.shutdown();
    await this.closeListeners();
    await this.client.idle();
    this.servers.clear();
  }

  private async closeListeners(): Promise<void> {
    const all = [...this.forwards.map((f) => f.close()), this.proxy?.close()];
    this.forwards = [];
    this.proxy = undefined;
    await Promise.all(all);
  }
}
