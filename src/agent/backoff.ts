/**
 * The sync interval of the client set: upstream's wait.Backoff with
 * factor 1.5, 10 % jitter and a cap. Pure (random source injected), so its
 * bounds are tested without timers.
 */

/** Options of SyncBackoff. */
export interface SyncBackoffOptions {
  /** The interval after a success (--sync-interval). */
  baseMs: number;
  /** The largest interval before jitter (--sync-interval-cap). */
  capMs: number;
  /** Growth per failure. */
  factor: number;
  /** A wait of d lasts d + random × jitter × d. */
  jitter: number;
  /** Uniform in [0, 1); Math.random by default. */
  random?: () => number;
}

/** Upstream's sync backoff: step() after errors grows the wait ×factor up to the cap; reset() after a success. */
export class SyncBackoff {
  private current: number;
  private readonly random: () => number;

  constructor(private readonly opts: SyncBackoffOptions) {
    this.current = opts.baseMs;
    this.random = opts.random ?? Math.random;
  }

  /** The un-jittered interval the next step() would use. */
  get intervalMs(): number {
    return this.current;
  }

  /** Wait after an error: the current interval, jittered; then the interval grows for next time. */
  step(): number {
    const d = this.jittered(this.current);
    this.current = Math.min(this.opts.capMs, this.current * this.opts.factor);
    return d;
  }

  /** Wait without changing the interval (an expected duplicate while servers are missing). */
  same(): number {
    return this.jittered(this.current);
  }

  /** Back to the base interval after a success; returns the jittered base wait. */
  reset(): number {
    this.current = this.opts.baseMs;
    return this.jittered(this.current);
  }

  private jittered(d: number): number {
    return d + this.random() * this.opts.jitter * d;
  }
}
