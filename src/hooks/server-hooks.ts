/**
 * The server's side of the hooks: agentConnected / agentDisconnected, run
 * in the background so that registering an agent never waits for a hook,
 * one agent's hooks in the order of its events, failures only logged and
 * counted (a server hook can never take the server down).
 *
 *     const hooks = createServerHooks({ providers, serverID, ... });
 *     backend registered:   hooks.agentConnected({ agentID, identifiers });
 *     backend removed:      hooks.agentDisconnected({ agentID, identifiers });
 *     shutdown:             await hooks.stop();
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { BackgroundTasks } from './background.js';
import { realHookClock, type HookClock } from './clock.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from './defaults.js';
import { HookMetrics } from './metrics.js';
import { runHooks, type HookRunEnv, type ServerHookFields } from './runner.js';
import type { HookOptions, HookProvider, ServerHookPhase } from './types.js';

/** Options of createServerHooks. */
export interface ServerHooksOptions {
  /** Loaded providers (loadHookProviders with role server), in run order. */
  providers: readonly HookProvider[];
  /** --server-id. */
  serverID: string;
  /** The providers' options; default none. */
  options?: HookOptions;
  /** --hook-timeout in ms; default 30 s; 0 = no limit. */
  timeoutMs?: number;
  logger: Logger;
  registry: Registry;
  clock?: HookClock;
}

/** The agent an event is about. */
export interface HookAgentInfo {
  agentID: string;
  /** Its allowed identifiers, e.g. `{ host: ['cluster-a'] }`; default none. */
  identifiers?: Readonly<Record<string, readonly string[]>>;
}

/** The server's hooks. */
export interface ServerHooks {
  /** Starts the agentConnected hooks for this agent and returns at once. */
  agentConnected(agent: HookAgentInfo): void;
  /** Starts the agentDisconnected hooks for this agent (after its earlier events' hooks) and returns at once. */
  agentDisconnected(agent: HookAgentInfo): void;
  /** Resolves when every hook started so far has finished. */
  idle(): Promise<void>;
  /** Abandons running hooks, stops background tasks and waits for them. */
  stop(): Promise<void>;
}

/** Builds the server's hooks. */
export function createServerHooks(opts: ServerHooksOptions): ServerHooks {
  const life = new AbortController();
  const clock = opts.clock ?? realHookClock;
  const background = new BackgroundTasks(life.signal, clock);
  const metrics = new HookMetrics(opts.registry);
  const hasAny = (phase: ServerHookPhase): boolean => opts.providers.some((p) => typeof p[phase] === 'function');
  /** The tail of each agent's chain of hook runs. */
  const chains = new Map<string, Promise<void>>();

  const enqueue = (phase: ServerHookPhase, agent: HookAgentInfo): void => {
    if (life.signal.aborted || !hasAny(phase)) return;
    const env: HookRunEnv<ServerHookFields> = {
      fields: { agentID: agent.agentID, identifiers: agent.identifiers ?? {}, serverID: opts.serverID, options: opts.options ?? {} },
      logger: opts.logger.child({ agentID: agent.agentID }),
      signal: life.signal,
      clock,
      metrics,
      background,
    };
    const previous = chains.get(agent.agentID) ?? Promise.resolve();
    const next = previous
      .then(() => runHooks(phase, opts.providers, env, { failure: 'ignore', timeoutMs: opts.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS }))
      .then(
        () => undefined,
        () => undefined,
      );
    chains.set(agent.agentID, next);
    void next.then(() => {
      if (chains.get(agent.agentID) === next) chains.delete(agent.agentID);
    });
  };

  const idle = async (): Promise<void> => {
    while (chains.size > 0) await Promise.all([...chains.values()]);
  };

  return {
    agentConnected: (agent) => enqueue('agentConnected', agent),
    agentDisconnected: (agent) => enqueue('agentDisconnected', agent),
    idle,
    async stop() {
      life.abort();
      await idle();
      await background.settle();
    },
  };
}
