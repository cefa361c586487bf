/**
 * The time source of the certificate layer, injected so renewal schedules,
 * backoff and debounce can run on a fake clock in tests.
 */

/** A timer handle as returned by setTimeout. */
export type TimerHandle = unknown;

/** Wall-clock time and one-shot timers. */
export interface CertClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; the timer must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The longest delay a Node timer takes; longer ones fire after 1 ms with a TimeoutOverflowWarning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A real timer that may be longer than Node allows: it re-arms in steps of at most MAX_TIMER_MS. */
class LongTimer {
  private handle: NodeJS.Timeout | undefined;
  constructor(
    private readonly fn: () => void,
    private readonly dueAt: number,
  ) {
    this.arm();
  }
  private arm(): void {
    const left = Math.max(0, this.dueAt - Date.now());
    this.handle = setTimeout(
      () => {
        if (Date.now() < this.dueAt) this.arm();
        else this.fn();
      },
      Math.min(left, MAX_TIMER_MS),
    );
    this.handle.unref();
  }
  cancel(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

/**
 * The real clock; timers are unref'd so a pending renewal never holds the process open,
 * and delays beyond Node's 24.8-day limit (a year-long certificate's renewal) are honoured.
 */
export const systemClock: CertClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => new LongTimer(fn, Date.now() + Math.max(0, Number.isFinite(ms) ? ms : 0)),
  clearTimeout: (h) => {
    if (h instanceof LongTimer) h.cancel();
  },
};
