/**
 * @kubernetes/client-node (1.4.0) through the tunnel.
 *
 * How 1.4.0 sends requests: generated API clients (`kc.makeApiClient(...)`)
 * use node-fetch with the `agent` that `KubeConfig.applySecurityAuthentication`
 * puts on each request's RequestContext (`context.setAgent`). Watch, Health,
 * Log and the metrics client go through `applyToFetchOptions`, which calls
 * `applyToHTTPSOptions`; exec/attach/port-forward (WebSocket) call
 * `applyToHTTPSOptions` directly and use `opts.agent`. Both methods build a
 * fresh Node https.Agent from the cluster's CA, client certificate and key.
 *
 * TunnelKubeConfig overrides those two public methods: it lets KubeConfig do
 * its usual work (tokens, exec/OIDC plugins, basic auth headers, TLS
 * material), then swaps the agent for a tunnel agent with the same TLS
 * options. So the cluster's TLS and credentials are kept end to end, and
 * only the TCP connection goes through the tunnel. Tunnel agents are cached
 * per TLS material with keep-alive on, so requests reuse connections (stock
 * 1.4.0 builds a new agent, hence a new connection, per request).
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import type https from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { createHttpAgent, createHttpsAgent, type TunnelAgentExtras, type TunnelDialer } from './http-agent.js';

/** Options of kubeConfigThroughTunnel(). */
export interface KubeThroughTunnelOptions extends TunnelAgentExtras {
  /** Options for the pooled agents (keepAlive defaults to true; maxSockets, timeout, ...). */
  agentOptions?: http.AgentOptions;
}

const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/** How many differently configured agents are kept (a rotated client certificate makes a new one). */
const MAX_AGENTS = 4;

/**
 * A KubeConfig whose requests go through a tunnel. Build it with
 * kubeConfigThroughTunnel(); use it like any KubeConfig.
 */
export class TunnelKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, http.Agent>();

  /** Prefer kubeConfigThroughTunnel(). The config starts empty; load it as any KubeConfig. */
  constructor(
    private readonly tunnel: TunnelDialer,
    private readonly opts: KubeThroughTunnelOptions = {},
  ) {
    super();
  }

  /** Called for every request of a generated API client: KubeConfig's auth, then the tunnel agent. */
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setAgent(this.tunnelAgent(context.getAgent()));
  }

  /** Called by Watch, Log, Health, Metrics and WebSocket-based clients: same swap of `opts.agent`. */
  override async applyToHTTPSOptions(opts: Parameters<KubeConfig['applyToHTTPSOptions']>[0]): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    const o = opts as { agent?: http.Agent | boolean };
    o.agent = this.tunnelAgent(typeof o.agent === 'object' ? o.agent : undefined);
  }

  /** Closes every connection of the cached agents (in use or idle). */
  destroyAgents(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** The cached tunnel agent for the TLS settings KubeConfig chose for this request. */
  private tunnelAgent(stock: http.Agent | undefined): http.Agent {
    const tls: https.AgentOptions = {};
    const from = (stock as https.Agent | undefined)?.options ?? {};
    for (const k of TLS_KEYS) if (from[k] !== undefined) (tls as Record<string, unknown>)[k] = from[k];
    const server = this.getCurrentCluster()?.server ?? '';
    const secure = !server.startsWith('http:');
    const key = cacheKey(secure, tls);
    let agent = this.agents.get(key);
    if (!agent) {
      const base = { keepAlive: true, ...this.opts.agentOptions };
      const extras: TunnelAgentExtras = {};
      if (this.opts.dialAddress) extras.dialAddress = this.opts.dialAddress;
      if (this.opts.dialTimeoutMs !== undefined) extras.dialTimeoutMs = this.opts.dialTimeoutMs;
      agent = secure
        ? createHttpsAgent(this.tunnel, { ...base, ...tls, ...extras })
        : createHttpAgent(this.tunnel, { ...base, ...extras });
      this.agents.set(key, agent);
      this.evictOldAgents();
    }
    return agent;
  }

  private evictOldAgents(): void {
    while (this.agents.size > MAX_AGENTS) {
      const [oldestKey, oldest] = this.agents.entries().next().value as [string, http.Agent];
      this.agents.delete(oldestKey);
      // Requests in flight finish; their sockets are then closed instead of kept.
      oldest.keepSocketAlive = () => false;
      for (const list of Object.values(oldest.freeSockets)) for (const s of list ?? []) s.destroy();
    }
  }
}

/**
 * Makes a copy of `kc` whose API clients reach the cluster through `tunnel`,
 * keeping the cluster's own TLS (CA, client certificate) and credentials
 * (token, exec plugin, ...). The dialed address is the host:port of the
 * cluster's `server` URL unless `dialAddress` says otherwise; a cluster
 * `proxy-url` is ignored (the tunnel is the path). Clusters, users and
 * contexts are shared with `kc`; custom authenticators added to `kc` with
 * addAuthenticator() are not, add them to the result.
 *
 * @example
 * const tunnel = await createTunnel({ uds: '/run/tunnel/frontend.sock' });
 * const kc = new KubeConfig();
 * kc.loadFromString(managedClusterKubeconfig); // server: https://my-cluster:6443
 * const api = kubeConfigThroughTunnel(kc, tunnel).makeApiClient(CoreV1Api);
 * const namespaces = await api.listNamespace();
 */
export function kubeConfigThroughTunnel(kc: KubeConfig, tunnel: TunnelDialer, opts: KubeThroughTunnelOptions = {}): TunnelKubeConfig {
  const t = new TunnelKubeConfig(tunnel, opts);
  t.clusters = kc.clusters;
  t.users = kc.users;
  t.contexts = kc.contexts;
  t.currentContext = kc.currentContext;
  return t;
}

function cacheKey(secure: boolean, tls: https.AgentOptions): string {
  const h = createHash('sha256');
  h.update(secure ? 'https' : 'http');
  for (const k of TLS_KEYS) {
    const v = tls[k];
    h.update(`\0${k}=`);
    for (const part of Array.isArray(v) ? v : [v]) {
      if (part === undefined) continue;
      h.update(Buffer.isBuffer(part) ? part : String(typeof part === 'object' ? JSON.stringify(part) : part));
      h.update('\0');
    }
  }
  return h.digest('hex');
}
