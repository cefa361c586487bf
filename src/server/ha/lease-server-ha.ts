/**
 * Upstream's lease controller (`--enable-lease-controller`): the replica
 * holds Lease `konnectivity-proxy-server-<serverID>` in --lease-namespace with
 * the --lease-label labels, collects expired ones, and tells connecting agents
 * the number of live Leases as `servercount` (from a list at most
 * listIntervalMs old and its own Lease; at least 1; while none is known, the
 * last good count, initially --server-count).
 */
import { countLiveLeases, leaseExpiresAt, type LeaseRecord, type LeaseStore } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import { LEASE_DEFAULTS, labelsToSelector, leaseNameFor } from './defaults.js';
import { LeaseCollector } from './lease-collector.js';
import { LeaseHolder } from './lease-holder.js';
import type { LeaseMetrics } from './lease-metrics.js';
import type { ServerHA } from './types.js';
import { systemWallClock, type WallClock } from './wall-clock.js';

/** What a LeaseServerHA needs; timings default to upstream's (LEASE_DEFAULTS). */
export interface LeaseServerHAOptions {
  serverID: string;
  store: LeaseStore;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** The count used until a live Lease is known (--server-count). */
  fallbackCount: number;
  logger: Logger;
  metrics: LeaseMetrics;
  clock?: WallClock;
  durationSeconds?: number;
  renewIntervalMs?: number;
  gcIntervalMs?: number;
  listIntervalMs?: number;
  renewRetryMs?: number;
}

/** One replica's Lease, and the count of live ones. */
export class LeaseServerHA implements ServerHA {
  readonly holder: LeaseHolder;
  readonly collector: LeaseCollector;
  private readonly clock: WallClock;
  private readonly log: Logger;
  private lastGood: number;
  private stopping: Promise<void> | undefined;

  constructor(private readonly o: LeaseServerHAOptions) {
    this.clock = o.clock ?? systemWallClock;
    this.log = o.logger;
    this.lastGood = Math.max(1, o.fallbackCount);
    const renewIntervalMs = o.renewIntervalMs ?? LEASE_DEFAULTS.renewIntervalMs;
    this.holder = new LeaseHolder({
      store: o.store,
      namespace: o.namespace,
      name: leaseNameFor(o.serverID),
      holder: o.serverID,
      labels: o.labels,
      durationSeconds: o.durationSeconds ?? LEASE_DEFAULTS.durationSeconds,
      renewIntervalMs,
      renewRetryMs: o.renewRetryMs ?? LEASE_DEFAULTS.renewRetryMs,
      clock: this.clock,
      logger: o.logger,
    });
    this.collector = new LeaseCollector({
      store: o.store,
      namespace: o.namespace,
      selector: labelsToSelector(o.labels),
      gcIntervalMs: o.gcIntervalMs ?? LEASE_DEFAULTS.gcIntervalMs,
      listIntervalMs: o.listIntervalMs ?? LEASE_DEFAULTS.listIntervalMs,
      clock: this.clock,
      logger: o.logger,
      metrics: o.metrics,
    });
  }

  /** Live Leases known now (the last list, with this replica's own Lease as last written); at least 1. */
  serverCount(): number {
    const live = countLiveLeases(this.view().values(), this.clock.now());
    if (live > 0 && live !== this.lastGood) {
      this.log.info('server count from leases changed', { from: this.lastGood, to: live });
      this.lastGood = live;
    }
    return live > 0 ? live : this.lastGood;
  }

  start(): void {
    if (this.stopping) return;
    this.log.info('lease controller started', {
      lease: `${this.o.namespace}/${leaseNameFor(this.o.serverID)}`,
      selector: labelsToSelector(this.o.labels),
    });
    this.holder.start();
    this.collector.start();
  }

  /** Resolves once no renewal or collection is in progress (for tests on a fake clock). */
  async settled(): Promise<void> {
    await Promise.all([this.holder.settled(), this.collector.settled()]);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.collector.stop();
      await this.holder.stop();
    })();
    return this.stopping;
  }

  describe(): Record<string, unknown> {
    const now = this.clock.now();
    return {
      source: 'leases',
      namespace: this.o.namespace,
      selector: labelsToSelector(this.o.labels),
      ownLease: leaseNameFor(this.o.serverID),
      leases: [...this.view().values()].map((l) => {
        const end = leaseExpiresAt(l);
        return { name: l.name, holder: l.holderIdentity ?? '', expiresInSeconds: end === undefined ? null : Math.round((end - now) / 1000) };
      }),
    };
  }

  private view(): Map<string, LeaseRecord> {
    const all = new Map(this.collector.leases);
    const own = this.holder.lease;
    if (own) all.set(own.name, own);
    return all;
  }
}
