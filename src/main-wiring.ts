/**
 * What main.ts adds to each role besides its config: certificates from the
 * CSR API (--cert-source=csr) and hooks (--hook-*). Both are loaded only
 * when asked for (they bring the Kubernetes client and user modules).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { AgentDeps, TunnelAgent } from './agent/agent.js';
import { clusterNameOf } from './agent/cluster-name.js';
import type { AgentConfig } from './agent/config.js';
import type { AgentHooks } from './hooks/index.js';
import { hooksConfigured } from './hooks/settings.js';
import type { Logger } from './observability/logger.js';
import type { ServerConfig } from './server/config.js';
import type { ServerDeps } from './server/tunnel-server.js';

/** Extra dependencies of a role, and what to stop after the role stopped. */
export interface RoleWiring<D> {
  deps: Partial<D>;
  /** Stops the hooks (the role closes its certificates itself). */
  stop(): Promise<void>;
}

/** csr certificates and authenticator, server hooks. */
export async function wireServer(c: ServerConfig, base: { logger: Logger; registry: Registry }): Promise<RoleWiring<ServerDeps>> {
  const deps: Partial<ServerDeps> = {};
  try {
    if (c.certs?.source === 'csr') {
      const { openCsrServerTls } = await import('./server/csr-tls.js');
      const { tls, authenticator } = await openCsrServerTls(c, base);
      Object.assign(deps, { tls, authenticator });
    }
    if (!hooksConfigured(c.hooks)) return { deps, stop: () => Promise.resolve() };
    const { loadProviders, serverHooks } = await import('./main-hooks.js');
    const hooks = serverHooks(await loadProviders('server', c.hooks, base.logger), c.hooks, { serverID: c.serverID, ...base });
    deps.agentEvents = hooks;
    return { deps, stop: () => hooks.stop() };
  } catch (err) {
    await deps.tls?.close();
    throw err;
  }
}

/**
 * csr certificates (opened at start: the request may go through the agent's
 * pull mode), agent hooks (providers loaded now; pre-start before
 * connecting, post-start after the first connection).
 */
export async function wireAgent(
  c: AgentConfig,
  base: { logger: Logger; registry: Registry; fatal: (err: unknown) => void },
): Promise<RoleWiring<AgentDeps>> {
  const deps: Partial<AgentDeps> = {};
  const clusterName = clusterNameOf(c);
  const s = c.certs;
  /** --meta-kubeconfig, else pull mode through the tunnel; as the bootstrap ServiceAccount when its token is given. */
  const metaFor = async (agent: TunnelAgent): Promise<KubeConfig> => {
    if (s && s.metaKubeconfig !== '') {
      const { metaKubeConfigFromFile } = await import('./agent/meta-kubeconfig.js');
      return metaKubeConfigFromFile(s.metaKubeconfig, s.bootstrapTokenPath);
    }
    // Pull mode: the meta apiserver through the tunnel (--pull-kube-* flags; the bootstrap token wins).
    return agent.pull.kubeConfig(s && s.bootstrapTokenPath !== '' ? { tokenPath: s.bootstrapTokenPath } : {});
  };
  if (s?.source === 'csr') {
    deps.auth = async (agent) => {
      const meta = await metaFor(agent);
      const { openCsrAuth } = await import('./agent/csr-auth.js');
      return openCsrAuth({ config: c, settings: s, clusterName, metaKubeConfig: meta, logger: base.logger, registry: base.registry });
    };
  }
  if (!hooksConfigured(c.hooks)) return { deps, stop: () => Promise.resolve() };
  const settings = c.hooks;
  const { loadProviders, agentHooks } = await import('./main-hooks.js');
  const providers = await loadProviders('agent', settings, base.logger);
  let hooks: AgentHooks | undefined;
  deps.beforeConnect = async (agent) => {
    hooks = agentHooks(providers, settings, {
      clusterName,
      agentID: c.agentID,
      kubeconfig: c.kubeconfig,
      metaKubeConfig: await metaFor(agent),
      logger: base.logger,
      registry: base.registry,
    });
    await hooks.preStart();
  };
  // postStart() runs its hooks once; it rejects only under --hook-failure-policy=fail: the agent stops.
  deps.onServerConnected = () => void hooks?.postStart().catch(base.fatal);
  return { deps, stop: async () => void (await hooks?.stop()) };
}
