/**
 * runHooks: runs one hook of every provider that has it, in the order the
 * providers were given, each run bounded by the timeout, and applies the
 * failure policy: `fail` rejects with the run's HookError (the agent turns
 * it into exit 1 with that message), `ignore` logs and goes on, `retry`
 * runs the same provider again after a backoff until it succeeds or the
 * process stops. Stopping never rejects: the report says `aborted`.
 */
import type { Logger } from '../observability/logger.js';
import { HookBackoff, type HookBackoffOptions } from './backoff.js';
import type { BackgroundTasks } from './background.js';
import { sleep, type HookClock } from './clock.js';
import type { HookError } from './errors.js';
import type { HookMetrics, HookRunResult } from './metrics.js';
import type { HookFailurePolicy } from './policy.js';
import { runOnce } from './run-once.js';
import type {
  AgentHookContext,
  AgentHookPhase,
  HookPhase,
  HookProvider,
  ServerHookContext,
  ServerHookPhase,
} from './types.js';

/** The agent's part of an agent hook context. */
export type AgentHookFields = Pick<AgentHookContext, 'clusterName' | 'agentID' | 'managedKubeConfig' | 'metaKubeConfig' | 'options'>;

/** The server's part of a server hook context. */
export type ServerHookFields = Pick<ServerHookContext, 'agentID' | 'identifiers' | 'serverID' | 'options'>;

/** Where hooks run: the role's context fields and its injected services. */
export interface HookRunEnv<F> {
  /** Copied into every hook context. */
  fields: F;
  /** Parent logger; each run gets a child with `hook` and `phase`. */
  logger: Logger;
  /** The process lifetime: aborting it abandons runs and retries. */
  signal: AbortSignal;
  clock: HookClock;
  metrics: HookMetrics;
  /** Where HookContextBase.background() puts its tasks. */
  background: BackgroundTasks;
}

/** How to run: the failure policy and the per-run timeout. */
export interface HookRunPolicy {
  failure: HookFailurePolicy;
  /** Per run; 0 = no limit. */
  timeoutMs: number;
  /** Waits between retries (policy retry). */
  backoff?: Partial<HookBackoffOptions>;
}

/** How one provider's hook went. */
export interface HookProviderReport {
  provider: string;
  /** The last run's result. */
  result: HookRunResult;
  /** Runs made (more than 1 after retries). */
  attempts: number;
  /** The last run's error, unless it succeeded. */
  error?: HookError;
}

/** The outcome of runHooks (when it does not reject). */
export interface HookRunReport {
  phase: HookPhase;
  /** Providers that have this hook, in run order, as far as the run got. */
  providers: HookProviderReport[];
  /** True when the process stopped before every hook was done. */
  aborted: boolean;
}

/** Runs an agent hook of every provider. Rejects with the HookError of the first failure under policy `fail`. */
export function runHooks(
  phase: AgentHookPhase,
  providers: readonly HookProvider[],
  env: HookRunEnv<AgentHookFields>,
  policy: HookRunPolicy,
): Promise<HookRunReport>;
/** Runs a server hook of every provider. */
export function runHooks(
  phase: ServerHookPhase,
  providers: readonly HookProvider[],
  env: HookRunEnv<ServerHookFields>,
  policy: HookRunPolicy,
): Promise<HookRunReport>;
export async function runHooks(
  phase: HookPhase,
  providers: readonly HookProvider[],
  env: HookRunEnv<AgentHookFields | ServerHookFields>,
  policy: HookRunPolicy,
): Promise<HookRunReport> {
  const report: HookRunReport = { phase, providers: [], aborted: false };
  for (const provider of providers) {
    const hook = provider[phase] as ((ctx: unknown) => void | Promise<void>) | undefined;
    if (typeof hook !== 'function') continue;
    const logger = env.logger.child({ hook: provider.name, phase });
    const backoff = new HookBackoff(policy.backoff);
    const context = (signal: AbortSignal): unknown => ({
      ...env.fields,
      phase,
      logger,
      signal,
      clock: env.clock,
      background: (name: string, task: (signal: AbortSignal) => Promise<void>) => env.background.start(name, logger, task),
    });
    for (let attempts = 1; ; attempts++) {
      const outcome = await runOnce(provider.name, phase, (signal) => hook.call(provider, context(signal)), {
        logger,
        signal: env.signal,
        clock: env.clock,
        metrics: env.metrics,
        timeoutMs: policy.timeoutMs,
      });
      const entry: HookProviderReport = { provider: provider.name, result: outcome.result, attempts };
      if (outcome.error) entry.error = outcome.error;
      if (outcome.result === 'success') {
        report.providers.push(entry);
        break;
      }
      if (outcome.result === 'aborted') {
        report.providers.push(entry);
        report.aborted = true;
        return report;
      }
      if (policy.failure === 'fail') throw outcome.error!;
      if (policy.failure === 'ignore') {
        logger.warn('hook failure ignored (hook failure policy "ignore")', { error: outcome.error!.message });
        report.providers.push(entry);
        break;
      }
      const waitMs = backoff.next();
      logger.warn('hook will be retried', { attempt: attempts, retryInMs: waitMs });
      if (!(await sleep(env.clock, waitMs, env.signal))) {
        report.providers.push({ ...entry, result: 'aborted' });
        report.aborted = true;
        return report;
      }
    }
  }
  return report;
}
