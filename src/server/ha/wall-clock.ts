/**
 * The clock the Lease loops run on. Lease times are wall-clock instants
 * shared with other processes (other replicas, agents), so `now()` is
 * milliseconds since the epoch, unlike the server's monotonic Clock.
 * Injected so tests drive renewal, expiry and collection with fake timers.
 */

/** Wall-clock time and one-shot timers. */
export interface WallClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn once after ms; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer; a spent or unknown handle is ignored. */
  clearTimeout(handle: unknown): void;
}

/** Date.now and unref'd Node timers. */
export const systemWallClock: WallClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
