/**
 * Hooks as the CLI runs them (src/hooks/README.md): providers loaded from
 * --hook-provider/--hook-module, the agent's pre-start/post-start/stop and
 * the server's agentConnected/agentDisconnected. Loaded only when a hook is
 * configured.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import {
  createAgentHooks,
  createServerHooks,
  loadHookProviders,
  type AgentHooks,
  type HookProvider,
  type ServerHooks,
} from './hooks/index.js';
import type { HookSettings } from './hooks/settings.js';
import { KubeError, loadKubeConfig } from './kube/index.js';
import type { Logger } from './observability/logger.js';

/** Loads the role's providers (built-in by name, then modules); rejects with a HookError naming what is wrong. */
export function loadProviders(role: 'server' | 'agent', s: HookSettings, logger: Logger): Promise<HookProvider[]> {
  return loadHookProviders({ role, providers: s.providers, modules: s.modules, options: s.options, logger });
}

/** The server's hooks. */
export function serverHooks(providers: HookProvider[], s: HookSettings, deps: { serverID: string; logger: Logger; registry: Registry }): ServerHooks {
  return createServerHooks({
    providers,
    serverID: deps.serverID,
    options: s.options,
    timeoutMs: s.timeoutMs,
    logger: deps.logger,
    registry: deps.registry,
  });
}

/** What the agent's hooks are given besides their settings. */
export interface AgentHookDeps {
  clusterName: string;
  agentID: string;
  /** --kubeconfig of the managed cluster; '' = in-cluster. */
  kubeconfig: string;
  /** The meta cluster (--meta-kubeconfig, else pull mode through the tunnel). */
  metaKubeConfig: KubeConfig;
  logger: Logger;
  registry: Registry;
}

/** The agent's hooks (nothing runs yet). */
export function agentHooks(providers: HookProvider[], s: HookSettings, deps: AgentHookDeps): AgentHooks {
  let managed: KubeConfig;
  try {
    managed = loadKubeConfig({ kubeconfigPath: deps.kubeconfig });
  } catch (err) {
    const why = (err as Error).message;
    deps.logger.warn('hooks get no client of the managed cluster', { error: why });
    managed = new UnavailableKubeConfig(`the managed cluster's configuration is not available to hooks: ${why}`);
  }
  return createAgentHooks({
    providers,
    clusterName: deps.clusterName,
    agentID: deps.agentID,
    managedKubeConfig: managed,
    metaKubeConfig: deps.metaKubeConfig,
    options: s.options,
    timeoutMs: s.timeoutMs,
    ...(s.failurePolicy ? { failurePolicy: s.failurePolicy } : {}),
    logger: deps.logger,
    registry: deps.registry,
  });
}

/** A KubeConfig whose clients cannot be made: the error says why. */
class UnavailableKubeConfig extends KubeConfig {
  constructor(private readonly why: string) {
    super();
  }

  override makeApiClient<T>(): T {
    throw new KubeError('ERR_KUBE_CONFIG', this.why);
  }
}
