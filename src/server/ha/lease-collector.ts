/**
 * The garbage collector of server Leases, which is also each replica's view
 * of how many replicas are live: every listIntervalMs it lists the Leases
 * that carry the replicas' labels and keeps the list; on the first list
 * after each gcIntervalMs it also deletes the expired ones with a
 * resourceVersion precondition (a Lease renewed since the list is a Conflict
 * and stays). Every call is counted in the upstream Lease metrics.
 */
import { isConflict, isLeaseLive, KubeError, type LeaseRecord, type LeaseStore } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import type { LeaseMetrics } from './lease-metrics.js';
import { PeriodicTask } from '../../kube/periodic.js';
import type { WallClock } from './wall-clock.js';

/** What a LeaseCollector needs. */
export interface LeaseCollectorOptions {
  store: LeaseStore;
  namespace: string;
  /** Label selector of the replicas' Leases (their --lease-label labels). */
  selector: string;
  gcIntervalMs: number;
  /** How often the Leases are listed (at most gcIntervalMs). */
  listIntervalMs: number;
  clock: WallClock;
  logger: Logger;
  metrics: LeaseMetrics;
}

/** Lists, counts and culls the replicas' Leases. */
export class LeaseCollector {
  private seen = new Map<string, LeaseRecord>();
  private listedOnce = false;
  private lastCull = -Infinity;
  private readonly task: PeriodicTask;

  constructor(private readonly o: LeaseCollectorOptions) {
    this.task = new PeriodicTask(() => this.step(), o.clock);
  }

  /** The Leases of the last successful list, minus those culled since; by name. */
  get leases(): ReadonlyMap<string, LeaseRecord> {
    return this.seen;
  }

  /** True once a list succeeded. */
  get hasListed(): boolean {
    return this.listedOnce;
  }

  /** Lists and collects now, then every gcIntervalMs. */
  start(): void {
    this.task.start();
  }

  /** Resolves once no pass is in progress (for tests on a fake clock). */
  settled(): Promise<void> {
    return this.task.settled();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  private async step(): Promise<number> {
    const now = this.o.clock.now();
    const cull = now - this.lastCull >= this.o.gcIntervalMs;
    const listed = await this.collectOnce(cull);
    if (cull && listed) this.lastCull = now;
    return Math.min(this.o.listIntervalMs, this.o.gcIntervalMs);
  }

  /** One pass: list and keep the view; with `cull`, delete what has expired. False when the list failed. Never throws. */
  private async collectOnce(cull: boolean): Promise<boolean> {
    const { store, namespace, selector, logger, metrics } = this.o;
    let leases: LeaseRecord[];
    const listStart = performance.now();
    try {
      leases = await store.list(namespace, selector);
      metrics.observeList(undefined, seconds(listStart));
    } catch (e) {
      metrics.observeList(e, seconds(listStart));
      logger.warn('cannot list leases to garbage collect', { namespace, selector, error: (e as Error).message });
      return false;
    }
    this.seen = new Map(leases.map((l) => [l.name, l]));
    this.listedOnce = true;
    if (!cull) return true;
    const now = this.o.clock.now();
    for (const lease of leases) {
      if (isLeaseLive(lease, now)) continue;
      await this.cull(lease);
    }
    return true;
  }

  private async cull(lease: LeaseRecord): Promise<void> {
    const { store, namespace, logger, metrics } = this.o;
    const start = performance.now();
    const fields = { lease: `${namespace}/${lease.name}`, holder: lease.holderIdentity };
    let existed: boolean;
    try {
      existed = await store.delete(namespace, lease.name, lease.resourceVersion ? { resourceVersion: lease.resourceVersion } : {});
    } catch (e) {
      metrics.observeDelete(e, seconds(start));
      if (isConflict(e)) logger.debug('lease changed since it was listed (renewed); kept', fields);
      else logger.warn('cannot delete expired lease', { ...fields, error: (e as Error).message });
      return;
    }
    this.seen.delete(lease.name);
    if (!existed) {
      metrics.observeDelete(new KubeError('ERR_KUBE_API', 'not found', { status: 404, reason: 'NotFound' }), seconds(start));
      logger.debug('lease was already deleted', fields);
      return;
    }
    metrics.observeDelete(undefined, seconds(start));
    metrics.culled.inc();
    logger.info('culled expired lease', { ...fields, renewTime: lease.renewTime?.toISOString() });
  }
}

function seconds(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}
