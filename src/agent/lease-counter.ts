/**
 * --count-server-leases: the agent lists the server replicas' Leases every
 * TIMING.leaseListIntervalMs (upstream uses an informer; a list is enough for
 * a count) and counts those whose renewTime (or acquireTime) plus duration
 * lies in the future at the moment it is asked. While none is live, or the
 * list fails, the last good count stands (initially 1), as upstream does.
 */
import { countLiveLeases, createLeaseStore, kubeConfigFor, type LeaseRecord, type LeaseStore, PeriodicTask } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import type { AgentClock } from './clock.js';
import type { AgentConfig } from './config.js';
import { TIMING } from './defaults.js';

/** A source of the server count besides the headers. */
export interface ServerCounter {
  /** The count now; at least 1. */
  count(): number;
  start(): void;
  stop(): Promise<void>;
}

/** What a LeaseCounter needs. */
export interface LeaseCounterOptions {
  store: LeaseStore;
  namespace: string;
  /** --lease-label-selector. */
  selector: string;
  intervalMs: number;
  clock: AgentClock;
  logger: Logger;
}

/** Counts live server Leases. */
export class LeaseCounter implements ServerCounter {
  private leases: LeaseRecord[] = [];
  private lastGood = 1;
  private failing = false;
  private readonly task: PeriodicTask;

  constructor(private readonly o: LeaseCounterOptions) {
    this.task = new PeriodicTask(() => this.step(), o.clock);
  }

  /** Live Leases of the last list at this moment; the last good count when none is. */
  count(): number {
    const live = countLiveLeases(this.leases, this.o.clock.now());
    if (live === 0) return this.lastGood;
    if (live !== this.lastGood) {
      this.o.logger.info('server count from leases changed', { from: this.lastGood, to: live });
      this.lastGood = live;
    }
    return live;
  }

  /** Lists now, then every intervalMs. */
  start(): void {
    this.task.start();
  }

  /** Resolves once no list is in progress (for tests on a fake clock). */
  settled(): Promise<void> {
    return this.task.settled();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  private async step(): Promise<number> {
    const { store, namespace, selector, logger } = this.o;
    try {
      this.leases = await store.list(namespace, selector);
      if (this.failing) logger.info('listing server leases works again', { namespace, selector });
      this.failing = false;
    } catch (e) {
      const fields = { namespace, selector, error: (e as Error).message, lastCount: this.lastGood };
      if (!this.failing) logger.warn('cannot list server leases; keeping the last count', fields);
      else logger.debug('cannot list server leases', fields);
      this.failing = true;
    }
    return this.o.intervalMs;
  }
}

/**
 * The LeaseCounter an AgentConfig asks for (--count-server-leases), reading
 * through --kubeconfig or the in-cluster configuration; undefined when off.
 * Throws KubeError ERR_KUBE_CONFIG when no Kubernetes configuration is found.
 */
export function leaseCounterFromConfig(
  config: Pick<AgentConfig, 'countServerLeases' | 'kubeconfig' | 'leaseNamespace' | 'leaseLabelSelector'>,
  deps: { clock: AgentClock; logger: Logger; intervalMs?: number; env?: Record<string, string | undefined> },
): LeaseCounter | undefined {
  if (!config.countServerLeases) return undefined;
  const kc = kubeConfigFor('--count-server-leases', { kubeconfigPath: config.kubeconfig, ...(deps.env ? { env: deps.env } : {}) });
  return new LeaseCounter({
    store: createLeaseStore(kc),
    namespace: config.leaseNamespace,
    selector: config.leaseLabelSelector,
    intervalMs: deps.intervalMs ?? TIMING.leaseListIntervalMs,
    clock: deps.clock,
    logger: deps.logger,
  });
}
