/**
 * Work hooks leave running after they return (HookContextBase.background):
 * each task gets the process-lifetime signal and its failure is logged;
 * once that signal is aborted, settle() waits for the tasks to end
 * (bounded by a grace period, in case a task ignores its signal).
 */
import type { Logger } from '../observability/logger.js';
import { sleep, type HookClock } from './clock.js';
import { HOOK_STOP_GRACE_MS } from './defaults.js';
import { errorText } from './errors.js';
import type { BackgroundTask } from './types.js';

/** The background tasks of one agent or server. */
export class BackgroundTasks {
  private readonly running = new Set<Promise<void>>();

  /**
   * @param signal the process lifetime: given to every task; once aborted, no task starts
   * @param clock timers of the grace period
   * @param graceMs how long settle() waits at most
   */
  constructor(
    private readonly signal: AbortSignal,
    private readonly clock: HookClock,
    private readonly graceMs = HOOK_STOP_GRACE_MS,
  ) {}

  /** Number of tasks not yet finished. */
  get size(): number {
    return this.running.size;
  }

  /** Starts a task (not when the lifetime signal is already aborted). */
  start(name: string, logger: Logger, task: BackgroundTask): void {
    if (this.signal.aborted) return;
    logger.debug('hook background task started', { task: name });
    const p: Promise<void> = Promise.resolve()
      .then(() => task(this.signal))
      .then(
        () => {
          logger.debug('hook background task ended', { task: name });
        },
        (err: unknown) => {
          if (!this.signal.aborted) logger.error('hook background task failed', { task: name, error: errorText(err) });
        },
      )
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Waits for every task to end, at most the grace period; call after aborting the lifetime signal. */
  async settle(): Promise<void> {
    if (this.running.size === 0) return;
    const grace = new AbortController();
    await Promise.race([Promise.allSettled([...this.running]), sleep(this.clock, this.graceMs, grace.signal)]);
    grace.abort();
  }
}
