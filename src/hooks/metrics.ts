/**
 * Hook metrics on an injected registry: tunnel_hook_runs_total{provider,
 * phase,result} and tunnel_hook_duration_seconds{provider,phase}. Getting
 * them twice from one registry returns the same metrics (an agent and a
 * server in one test process share nothing else).
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { HookPhase } from './types.js';

/** How a run ended: the `result` label. */
export type HookRunResult = 'success' | 'error' | 'timeout' | 'aborted';

const RUNS = 'tunnel_hook_runs_total';
const DURATION = 'tunnel_hook_duration_seconds';

/** The hook metrics of one registry. */
export class HookMetrics {
  readonly runs: Counter<'provider' | 'phase' | 'result'>;
  readonly duration: Histogram<'provider' | 'phase'>;

  constructor(registry: Registry) {
    this.runs =
      (registry.getSingleMetric(RUNS) as Counter<'provider' | 'phase' | 'result'> | undefined) ??
      new Counter({
        name: RUNS,
        help: 'Hook runs, by provider, hook (phase) and result (success, error, timeout, aborted).',
        labelNames: ['provider', 'phase', 'result'],
        registers: [registry],
      });
    this.duration =
      (registry.getSingleMetric(DURATION) as Histogram<'provider' | 'phase'> | undefined) ??
      new Histogram({
        name: DURATION,
        help: 'Duration of hook runs in seconds, by provider and hook (phase).',
        labelNames: ['provider', 'phase'],
        buckets: [0.01, 0.05, 0.25, 1, 5, 15, 30, 60, 120],
        registers: [registry],
      });
  }

  /** Records one finished run. */
  observe(provider: string, phase: HookPhase, result: HookRunResult, seconds: number): void {
    this.runs.inc({ provider, phase, result });
    this.duration.observe({ provider, phase }, seconds);
  }
}
