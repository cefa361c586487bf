/**
 * Metrics of pull mode, with the same names on the server and the agent
 * (each role registers them on its own registry):
 * - `tunnel_pull_connections_total{target,result}`: every pull dial, by
 *   outcome (`ok` or why it failed);
 * - `tunnel_pull_open_connections{target}`: pull connections open now.
 *
 * `target` is a configured or learned target name; names nobody configured
 * are counted as `_other`, so a client sending random names cannot grow the
 * label set without bound.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** The `result` label values. */
export type PullResult =
  | 'ok'
  | 'not_allowed'
  | 'unknown_target'
  | 'not_configured'
  | 'bad_address'
  | 'too_many'
  | 'dial_error'
  | 'dial_timeout'
  | 'cancelled'
  | 'unauthenticated'
  | 'unavailable'
  | 'shutting_down'
  | 'stream_error'
  | 'protocol_error';

/** The `target` label of names that are not known targets. */
export const OTHER_TARGET = '_other';

/** Pull connection counters of one role. */
export class PullMetrics {
  readonly connections: Counter<'target' | 'result'>;
  readonly open: Gauge<'target'>;

  constructor(registry: Registry) {
    this.connections = new Counter({
      name: 'tunnel_pull_connections_total',
      help: 'Pull connections asked for, by target name and result (ok, or why it failed).',
      labelNames: ['target', 'result'],
      registers: [registry],
    });
    this.open = new Gauge({
      name: 'tunnel_pull_open_connections',
      help: 'Pull connections open now, by target name.',
      labelNames: ['target'],
      registers: [registry],
    });
  }

  /** Counts a dial's outcome. */
  result(target: string, result: PullResult): void {
    this.connections.inc({ target, result });
  }

  /** One more open connection of target (after a successful dial). */
  opened(target: string): void {
    this.open.inc({ target });
  }

  /** One fewer open connection of target. */
  closed(target: string): void {
    this.open.dec({ target });
  }
}
