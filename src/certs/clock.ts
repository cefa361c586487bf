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

/** The real clock; timers are unref'd so a pending renewal never holds the process open. */
export const systemClock: CertClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
