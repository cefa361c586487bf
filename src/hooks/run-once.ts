/**
 * One run of one provider's hook: a signal of its own (aborted by the
 * timeout or by the process stopping), a timer that wins the race even
 * when the hook ignores the signal, a log line at start and end, and the
 * run metrics. Never throws: the outcome says how it went.
 */
import type { Logger } from '../observability/logger.js';
import type { HookClock } from './clock.js';
import { errorText, HookError } from './errors.js';
import type { HookMetrics, HookRunResult } from './metrics.js';
import { phaseTitle, type HookPhase } from './types.js';

/** What a run needs besides the hook itself. */
export interface RunOnceEnv {
  /** Logger with `hook` and `phase` set. */
  logger: Logger;
  /** The process lifetime; aborting it abandons the run. */
  signal: AbortSignal;
  clock: HookClock;
  metrics: HookMetrics;
  /** 0 = no limit. */
  timeoutMs: number;
}

/** How one run ended. */
export interface RunOutcome {
  result: HookRunResult;
  /** Set unless result is success. */
  error?: HookError;
  durationMs: number;
}

/** `250ms`, `5s`, `1.5s`: a duration as operators typed it in --hook-timeout. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Number((ms / 1000).toFixed(3))}s`;
}

/**
 * Runs `invoke(signal)` once. `invoke` calls the hook with a context built
 * around the run's signal.
 */
export async function runOnce(
  provider: string,
  phase: HookPhase,
  invoke: (signal: AbortSignal) => void | Promise<void>,
  env: RunOnceEnv,
): Promise<RunOutcome> {
  const title = `${phaseTitle(phase)} hook "${provider}"`;
  const run = new AbortController();
  const abandon = (): void =>
    run.abort(new HookError('ERR_HOOK_ABORTED', `${title} was abandoned: stopping`, { provider, phase }));
  if (env.signal.aborted) abandon();
  else env.signal.addEventListener('abort', abandon, { once: true });
  const timer =
    env.timeoutMs > 0
      ? env.clock.setTimeout(
          () =>
            run.abort(
              new HookError('ERR_HOOK_TIMEOUT', `${title} did not finish within ${formatDuration(env.timeoutMs)}`, { provider, phase }),
            ),
          env.timeoutMs,
        )
      : undefined;
  const started = env.clock.now();
  env.logger.info('hook started');

  let outcome: RunOutcome;
  try {
    if (run.signal.aborted) throw run.signal.reason;
    const stopped = new Promise<never>((_, reject) => run.signal.addEventListener('abort', () => reject(run.signal.reason), { once: true }));
    stopped.catch(() => undefined);
    const work = Promise.resolve().then(() => invoke(run.signal));
    // A hook that loses the race may still settle later: nothing must be unhandled.
    work.catch(() => undefined);
    await Promise.race([work, stopped]);
    outcome = { result: 'success', durationMs: env.clock.now() - started };
  } catch (err) {
    const durationMs = env.clock.now() - started;
    // Once the run is aborted, its reason is the outcome, whatever the hook threw in reply.
    const error =
      run.signal.aborted && run.signal.reason instanceof HookError
        ? run.signal.reason
        : new HookError('ERR_HOOK_FAILED', `${title} failed: ${errorText(err)}`, { provider, phase, cause: err });
    const result: HookRunResult =
      error.code === 'ERR_HOOK_TIMEOUT' ? 'timeout' : error.code === 'ERR_HOOK_ABORTED' ? 'aborted' : 'error';
    outcome = { result, error, durationMs };
  } finally {
    if (timer !== undefined) env.clock.clearTimeout(timer);
    env.signal.removeEventListener('abort', abandon);
  }

  env.metrics.observe(provider, phase, outcome.result, outcome.durationMs / 1000);
  if (outcome.result === 'success') env.logger.info('hook finished', { durationMs: outcome.durationMs });
  else if (outcome.result === 'aborted') env.logger.info('hook abandoned', { durationMs: outcome.durationMs });
  else env.logger.error('hook failed', { durationMs: outcome.durationMs, result: outcome.result, error: outcome.error!.message });
  return outcome;
}
