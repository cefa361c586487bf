/** The timers the agent uses, injected so tests can drive them with @sinonjs/fake-timers. */

/** Timer functions (tests adapt a @sinonjs/fake-timers clock to it). */
export interface AgentClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs fn once after ms; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer from setTimeout; unknown or spent handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/** The process's real timers. */
export const realClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
