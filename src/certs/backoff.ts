/**
 * Exponential backoff with jitter: the delay doubles (by default) from
 * `initialMs` up to `maxMs`, each spread by ±jitter so replicas and agents
 * do not retry in step. The caller schedules; this only counts.
 */
import { RETRY_INITIAL_MS, RETRY_JITTER_FRACTION, RETRY_MAX_MS, RETRY_MULTIPLIER } from './timing.js';

/** Options of Backoff. */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  multiplier?: number;
  /** Fraction of spread around each delay, 0..1. */
  jitter?: number;
  /** Source of randomness in [0, 1); default Math.random. */
  random?: () => number;
}

/** Retry delays of one retried operation. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions = {}) {}

  /** Failures since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  /** The delay before the next attempt (and counts one failure). */
  next(): number {
    const initial = this.opts.initialMs ?? RETRY_INITIAL_MS;
    const max = this.opts.maxMs ?? RETRY_MAX_MS;
    const base = Math.min(max, initial * (this.opts.multiplier ?? RETRY_MULTIPLIER) ** this.attempt);
    this.attempt += 1;
    const jitter = this.opts.jitter ?? RETRY_JITTER_FRACTION;
    const spread = base * jitter * (2 * (this.opts.random ?? Math.random)() - 1);
    return Math.max(0, Math.round(Math.min(max, base + spread)));
  }

  /** Starts over after a success. */
  reset(): void {
    this.attempt = 0;
  }
}
