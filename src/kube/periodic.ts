/**
 * A loop for periodic API work (a server renewing and collecting Leases, an
 * agent counting them): runs an async step now and then again after the
 * delay the step returns, on an injected clock; never two steps at once.
 * stop() cancels the next step and waits for the one in progress.
 */

/** The timers a PeriodicTask runs on (the roles' clocks fit). */
export interface TaskTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** One step; resolves with the wait before the next (it must not reject). */
export type Step = () => Promise<number>;

/** A self-rescheduling step. */
export class PeriodicTask {
  private timer: unknown = undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private started = false;

  constructor(
    private readonly step: Step,
    private readonly clock: TaskTimers,
  ) {}

  /** Runs the first step right away. Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.run();
  }

  /** Runs a step now (if none is running), instead of at its scheduled time. */
  kick(): void {
    if (!this.started || this.stopped || this.running) return;
    this.clock.clearTimeout(this.timer);
    this.run();
  }

  /** Resolves once no step is in progress. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Cancels the next step and waits for the current one. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.settled();
  }

  private run(): void {
    this.timer = undefined;
    this.running = this.step().then((wait) => {
      this.running = undefined;
      if (!this.stopped) this.timer = this.clock.setTimeout(() => this.run(), Math.max(0, wait));
    });
  }
}
