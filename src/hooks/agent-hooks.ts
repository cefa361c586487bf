/**
 * The agent's side of the hooks, what the agent wiring calls:
 *
 *     const hooks = createAgentHooks({ providers, clusterName, ... });
 *     await hooks.preStart();            // before connecting; rejects → exit 1 with the message
 *     // on the first server connection:
 *     hooks.postStart().catch(fatal);    // not awaited: retries run in the background
 *     // on shutdown:
 *     await hooks.stop();
 *
 * postStart() runs once however often it is called (reconnects do not
 * re-run it); stop() abandons running hooks and retries and waits for the
 * hooks' background tasks.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { HookBackoffOptions } from './backoff.js';
import { BackgroundTasks } from './background.js';
import { realHookClock, type HookClock } from './clock.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from './defaults.js';
import { HookMetrics } from './metrics.js';
import { failurePolicyFor, type HookFailurePolicy } from './policy.js';
import { runHooks, type HookRunEnv, type AgentHookFields, type HookRunReport } from './runner.js';
import type { AgentHookPhase, HookOptions, HookProvider } from './types.js';

/** Options of createAgentHooks. */
export interface AgentHooksOptions {
  /** Loaded providers (loadHookProviders), in run order. */
  providers: readonly HookProvider[];
  /** --cluster-name. */
  clusterName: string;
  /** --agent-id. */
  agentID: string;
  /** The managed cluster: loadKubeConfig({ kubeconfigPath: --kubeconfig }) (in-cluster when unset). */
  managedKubeConfig: KubeConfig;
  /** The meta cluster, reached through the tunnel's pull mode. */
  metaKubeConfig: KubeConfig;
  /** The providers' options (see HookOptions); default none. */
  options?: HookOptions;
  /** --hook-timeout in ms; default 30 s; 0 = no limit. */
  timeoutMs?: number;
  /** --hook-failure-policy; unset: pre-start fail, post-start retry. */
  failurePolicy?: HookFailurePolicy;
  /** The agent's logger; hook lines carry `hook` and `phase`. */
  logger: Logger;
  /** Where tunnel_hook_runs_total and tunnel_hook_duration_seconds go. */
  registry: Registry;
  /** Default: real timers. */
  clock?: HookClock;
  /** Retry waits (policy retry); defaults in defaults.ts. */
  backoff?: Partial<HookBackoffOptions>;
}

/** The agent's hooks. */
export interface AgentHooks {
  /** Runs every preStartTunnelAgent hook; call before connecting. Rejects with a HookError under policy fail. */
  preStart(): Promise<HookRunReport>;
  /**
   * Runs every postStartTunnelAgent hook; call when the first server
   * connection is up, without awaiting. Only the first call runs them; later
   * calls return the same promise. Rejects only under policy fail.
   */
  postStart(): Promise<HookRunReport>;
  /** Abandons running hooks and retries, stops background tasks and waits for them. */
  stop(): Promise<void>;
}

/** Builds the agent's hooks. */
export function createAgentHooks(opts: AgentHooksOptions): AgentHooks {
  const life = new AbortController();
  const clock = opts.clock ?? realHookClock;
  const background = new BackgroundTasks(life.signal, clock);
  const env: HookRunEnv<AgentHookFields> = {
    fields: {
      clusterName: opts.clusterName,
      agentID: opts.agentID,
      managedKubeConfig: opts.managedKubeConfig,
      metaKubeConfig: opts.metaKubeConfig,
      options: opts.options ?? {},
    },
    logger: opts.logger,
    signal: life.signal,
    clock,
    metrics: new HookMetrics(opts.registry),
    background,
  };
  const inFlight = new Set<Promise<unknown>>();
  const run = (phase: AgentHookPhase): Promise<HookRunReport> => {
    const p = runHooks(phase, opts.providers, env, {
      failure: failurePolicyFor(phase, opts.failurePolicy),
      timeoutMs: opts.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    });
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
    return p;
  };
  let postStarted: Promise<HookRunReport> | undefined;
  return {
    preStart: () => run('preStartTunnelAgent'),
    postStart: () => (postStarted ??= run('postStartTunnelAgent')),
    async stop() {
      life.abort();
      await Promise.all([...inFlight]);
      await background.settle();
    },
  };
}
