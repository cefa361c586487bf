/**
 * The clock the server's timers run on. Injected so tests can drive pending
 * dial timeouts and stall detection with a fake clock instead of sleeping.
 */

/** An opaque timer handle returned by Clock.setTimeout. */
export type TimerHandle = unknown;

/** Time source and one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; only differences are used. */
  now(): number;
  /** Calls fn once after ms milliseconds. The timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a handle already fired or cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock (performance.now and unref'd Node timers). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
