/** The timers hooks and the runner use, injected so tests drive them with @sinonjs/fake-timers. */

/** Timer functions (the same shape as the agent's clock). */
export interface HookClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs fn once after ms; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer from setTimeout; unknown or spent handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/** The process's real timers. */
export const realHookClock: HookClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Waits `ms` on `clock`; resolves true when the time is up, false at once
 * when `signal` is (or becomes) aborted. Never rejects.
 */
export function sleep(clock: HookClock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
