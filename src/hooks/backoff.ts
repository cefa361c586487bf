/**
 * The wait between attempts of a failing hook or refresh: exponential with
 * jitter and a cap. Pure (random source injected), so it is tested without
 * timers.
 */
import { HOOK_RETRY_FACTOR, HOOK_RETRY_INITIAL_MS, HOOK_RETRY_JITTER, HOOK_RETRY_MAX_MS } from './defaults.js';

/** Options of HookBackoff; every field has a default in defaults.ts. */
export interface HookBackoffOptions {
  /** First wait. */
  initialMs: number;
  /** Growth per failure. */
  factor: number;
  /** Longest wait before jitter. */
  maxMs: number;
  /** A wait of d lasts d + random × jitter × d. */
  jitter: number;
  /** Uniform in [0, 1); Math.random by default. */
  random: () => number;
}

/** Exponential backoff: next() after each failure, reset() after a success. */
export class HookBackoff {
  private readonly opts: HookBackoffOptions;
  private current: number;

  constructor(opts: Partial<HookBackoffOptions> = {}) {
    this.opts = {
      initialMs: opts.initialMs ?? HOOK_RETRY_INITIAL_MS,
      factor: opts.factor ?? HOOK_RETRY_FACTOR,
      maxMs: opts.maxMs ?? HOOK_RETRY_MAX_MS,
      jitter: opts.jitter ?? HOOK_RETRY_JITTER,
      random: opts.random ?? Math.random,
    };
    this.current = this.opts.initialMs;
  }

  /** The wait before the next attempt; the one after grows by `factor` up to `maxMs`. */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.opts.maxMs, this.current * this.opts.factor);
    return Math.round(d + this.opts.random() * this.opts.jitter * d);
  }

  /** Back to the first wait. */
  reset(): void {
    this.current = this.opts.initialMs;
  }
}
