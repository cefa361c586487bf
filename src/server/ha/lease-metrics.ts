/**
 * Upstream proxy-server's Lease metrics (prefix
 * konnectivity_network_proxy_server_): list and delete calls of the garbage
 * collector by HTTP status code and reason, their latency, and the number of
 * expired Leases culled.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { KubeError } from '../../kube/index.js';

const SUB = 'konnectivity_network_proxy_server';
/** Upstream's latency buckets (1 µs to 12.5 s). */
const LATENCY_BUCKETS = [0.000001, 0.00001, 0.0001, 0.005, 0.025, 0.1, 0.5, 2.5, 12.5];

/** The status code and reason labels of an API call's outcome: `200`/`` on success. */
export function outcomeLabels(err: unknown): { http_status_code: string; reason: string } {
  if (err === undefined) return { http_status_code: '200', reason: '' };
  if (err instanceof KubeError) return { http_status_code: String(err.status), reason: err.reason };
  return { http_status_code: '0', reason: 'Unknown' };
}

/** The five Lease metrics, registered on a role's registry. */
export class LeaseMetrics {
  readonly culled: Counter;
  readonly deleteLatency: Histogram<'http_status_code'>;
  readonly deletes: Counter<'http_status_code' | 'reason'>;
  readonly listLatency: Histogram<'http_status_code'>;
  readonly lists: Counter<'http_status_code' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.culled = new Counter({
      name: `${SUB}_culled_leases_count`,
      help: 'Count of expired leases that the lease garbage collection controller has culled.',
      registers,
    });
    this.deleteLatency = new Histogram({
      name: `${SUB}_lease_delete_latency_seconds`,
      help: 'Latency of lease deletion calls by the garbage collection controller in seconds.',
      labelNames: ['http_status_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.deletes = new Counter({
      name: `${SUB}_lease_delete_total`,
      help: 'Count of lease deletion calls by the garbage collection controller, by HTTP status code and reason.',
      labelNames: ['http_status_code', 'reason'],
      registers,
    });
    this.listLatency = new Histogram({
      name: `${SUB}_lease_list_latency_seconds`,
      help: 'Latency of lease list calls by the garbage collection controller in seconds.',
      labelNames: ['http_status_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.lists = new Counter({
      name: `${SUB}_lease_list_total`,
      help: 'Count of lease list calls by the garbage collection controller, by HTTP status code and reason.',
      labelNames: ['http_status_code', 'reason'],
      registers,
    });
  }

  /** Records one list call. */
  observeList(err: unknown, seconds: number): void {
    const l = outcomeLabels(err);
    this.lists.inc(l);
    this.listLatency.observe({ http_status_code: l.http_status_code }, seconds);
  }

  /** Records one delete call. */
  observeDelete(err: unknown, seconds: number): void {
    const l = outcomeLabels(err);
    this.deletes.inc(l);
    this.deleteLatency.observe({ http_status_code: l.http_status_code }, seconds);
  }
}
