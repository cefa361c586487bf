/**
 * The replica's own Lease: created when missing (holder = server id,
 * acquireTime = renewTime = now), renewed every renewIntervalMs, taken over
 * (acquireTime reset, leaseTransitions + 1) if another holder is recorded,
 * and deleted on stop. A Lease culled by another replica while this one could
 * not renew (an expiry) is simply created again at the next renewal.
 */
import { isConflict, isNotFound, type LeaseRecord, type LeaseStore } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import { PeriodicTask } from '../../kube/periodic.js';
import type { WallClock } from './wall-clock.js';

/** What a LeaseHolder needs. */
export interface LeaseHolderOptions {
  store: LeaseStore;
  namespace: string;
  name: string;
  /** spec.holderIdentity: the server id. */
  holder: string;
  labels: Readonly<Record<string, string>>;
  durationSeconds: number;
  renewIntervalMs: number;
  renewRetryMs: number;
  clock: WallClock;
  logger: Logger;
}

/** Keeps the replica's Lease renewed. */
export class LeaseHolder {
  private current: LeaseRecord | undefined;
  /** True once a renewal succeeded: only then is there a Lease to delete on stop. */
  private held = false;
  private failing = false;
  private readonly task: PeriodicTask;

  constructor(private readonly o: LeaseHolderOptions) {
    this.task = new PeriodicTask(() => this.step(), o.clock);
  }

  /** The Lease as last written by this replica (undefined before the first success or after a failure). */
  get lease(): LeaseRecord | undefined {
    return this.current;
  }

  /** Creates or renews the Lease now, then every renewIntervalMs. */
  start(): void {
    this.task.start();
  }

  /** Resolves once no renewal is in progress (for tests on a fake clock). */
  settled(): Promise<void> {
    return this.task.settled();
  }

  /** Stops renewing and deletes the Lease, so that others count one replica less at once. */
  async stop(): Promise<void> {
    await this.task.stop();
    const { store, namespace, name } = this.o;
    this.current = undefined;
    if (!this.held) return;
    try {
      const existed = await store.delete(namespace, name);
      if (existed) this.o.logger.info('deleted own lease', { lease: `${namespace}/${name}` });
    } catch (e) {
      this.o.logger.warn('cannot delete own lease; it expires by itself', { lease: `${namespace}/${name}`, error: (e as Error).message });
    }
  }

  private async step(): Promise<number> {
    const { logger, namespace, name } = this.o;
    try {
      await this.renew();
      this.held = true;
      if (this.failing) logger.info('lease renewed again', { lease: `${namespace}/${name}` });
      this.failing = false;
      return this.o.renewIntervalMs;
    } catch (e) {
      this.current = undefined;
      const fields = { lease: `${namespace}/${name}`, error: (e as Error).message, retryInMs: this.retryMs() };
      if (!this.failing) logger.warn('cannot renew own lease', fields);
      else logger.debug('cannot renew own lease', fields);
      this.failing = true;
      return this.retryMs();
    }
  }

  private retryMs(): number {
    return Math.min(this.o.renewRetryMs, this.o.renewIntervalMs);
  }

  /** One renewal: an update on the last known version, else read and create, update or take over. */
  private async renew(): Promise<void> {
    const { store, namespace, name, holder } = this.o;
    const now = new Date(this.o.clock.now());
    if (this.current) {
      try {
        this.current = await store.update(this.renewed(this.current, now));
        return;
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
        this.current = undefined; // changed or culled meanwhile: read again
      }
    }
    const existing = await store.get(namespace, name);
    if (!existing) {
      this.current = await store.create({
        namespace,
        name,
        holderIdentity: holder,
        leaseDurationSeconds: this.o.durationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
        labels: { ...this.o.labels },
      });
      this.o.logger.info('created own lease', { lease: `${namespace}/${name}`, durationSeconds: this.o.durationSeconds });
      return;
    }
    this.current = await store.update(this.renewed(existing, now));
  }

  private renewed(l: LeaseRecord, now: Date): LeaseRecord {
    const takeover = l.holderIdentity !== this.o.holder;
    return {
      ...l,
      holderIdentity: this.o.holder,
      leaseDurationSeconds: this.o.durationSeconds,
      renewTime: now,
      labels: { ...this.o.labels },
      ...(takeover ? { acquireTime: now, leaseTransitions: (l.leaseTransitions ?? 0) + 1 } : {}),
    };
  }
}
