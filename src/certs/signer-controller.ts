/**
 * The signer/approver controller the server runs for the tunnel's own
 * signer names: ensures the tunnel CA exists (agreeing with other replicas
 * on one), lists and watches CSRs, and for each CSR of its signers that is
 * still open:
 *   pending  → approve or deny by policy (approver.ts), then
 *   approved → sign with the tunnel CA (signer.ts).
 * CSRs of other signers are never touched. Work is serial; an error (API
 * down, CA Secret broken) is logged, counted and retried with backoff for
 * that CSR; a conflict (another replica got there first) re-reads it.
 */
import type { Registry } from 'prom-client';
// The kube modules themselves, not kube/index.js: that one loads the Kubernetes client, which files mode never needs.
import type { CsrClient, CsrRecord, CsrWatch } from '../kube/csr-types.js';
import { csrOutcome } from '../kube/csr-wait.js';
import { isConflict } from '../kube/errors.js';
import type { SecretStore } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { approveOrDeny } from './approver.js';
import type { ApproverPolicy } from './approver-policy.js';
import { Backoff } from './backoff.js';
import { systemClock, type CertClock, type TimerHandle } from './clock.js';
import { CertError, errorCode, errorMessage } from './errors.js';
import { checkLifetimePolicy, signApproved, type LifetimePolicy } from './signer.js';
import { signerMetrics, type SignerMetrics } from './signer-metrics.js';
import { SIGNER_REWATCH_MAX_MS } from './timing.js';
import { TunnelCa } from './tunnel-ca.js';

/** Options of SignerController. */
export interface SignerControllerOptions {
  csrs: CsrClient;
  /** Secrets of the meta cluster (for the CA), unless `ca` is given. */
  secrets?: SecretStore;
  /** The CA store; default a TunnelCa on `secrets` with `caNamespace`/`caSecretName`. */
  ca?: TunnelCa;
  caNamespace?: string;
  caSecretName?: string;
  policy: ApproverPolicy;
  lifetime: LifetimePolicy;
  logger: Logger;
  clock?: CertClock;
  registry?: Registry;
  /** Approve/deny pending CSRs (default true); false = only sign what others approved. */
  approve?: boolean;
  /** First retry delay after an error; default 1 s. */
  retryInitialMs?: number;
}

/** The controller. */
export class SignerController {
  /** The tunnel CA it signs with. */
  readonly ca: TunnelCa;
  private readonly clock: CertClock;
  private readonly metrics: SignerMetrics | undefined;
  private readonly queue = new Map<string, CsrRecord>();
  private readonly retries = new Map<string, TimerHandle>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly resyncBackoff: Backoff;
  private worker: Promise<void> | undefined;
  private watch: CsrWatch | undefined;
  private resyncTimer: TimerHandle | undefined;
  private stopped = false;
  private started = false;
  private lastFailure: string | undefined;
  private idleWaiters: Array<() => void> = [];

  /** Throws CertError ERR_CERT_CONFIG for a bad lifetime policy or no way to reach the CA. */
  constructor(private readonly opts: SignerControllerOptions) {
    checkLifetimePolicy(opts.lifetime);
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.registry ? signerMetrics(opts.registry) : undefined;
    if (opts.ca) this.ca = opts.ca;
    else if (opts.secrets) {
      this.ca = new TunnelCa({
        secrets: opts.secrets,
        logger: opts.logger,
        clock: this.clock,
        ...(opts.caNamespace ? { namespace: opts.caNamespace } : {}),
        ...(opts.caSecretName ? { name: opts.caSecretName } : {}),
      });
    } else throw new CertError('ERR_CERT_CONFIG', 'the signer controller needs a SecretStore or a TunnelCa');
    this.resyncBackoff = new Backoff({ initialMs: opts.retryInitialMs ?? 1_000, maxMs: SIGNER_REWATCH_MAX_MS });
  }

  /**
   * Ensures the CA (rejects with CertError ERR_CA_SECRET_INVALID when the
   * Secret is unusable, or a KubeError), then lists and watches CSRs.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.ca.ensure();
    this.opts.logger.info('tunnel signer started', { signers: [this.opts.policy.signers.agent, this.opts.policy.signers.server], ca: this.ca.secretRef });
    await this.resync();
  }

  /** Stops watching and waits for the CSR in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    this.watch = undefined;
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    for (const t of this.retries.values()) this.clock.clearTimeout(t);
    this.retries.clear();
    this.queue.clear();
    await this.worker;
    this.releaseIdle();
  }

  /** The last error of the controller (cleared by the next success), for logs and health details. */
  lastError(): string | undefined {
    return this.lastFailure;
  }

  /** Resolves when no CSR is queued or being worked on (retries waiting on a timer do not count). */
  idle(): Promise<void> {
    if (!this.worker && this.queue.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    try {
      const list = await this.opts.csrs.list();
      for (const csr of list.items) this.enqueue(csr);
      this.watch = await this.opts.csrs.watch({
        resourceVersion: list.resourceVersion,
        onEvent: (e) => {
          if (e.type !== 'DELETED') this.enqueue(e.csr);
        },
        onEnd: (err) => {
          this.watch = undefined;
          if (this.stopped) return;
          if (err) this.fail(err, 'CSR watch ended');
          this.scheduleResync(err ? this.resyncBackoff.next() : 0);
        },
      });
      if (this.stopped) this.watch.stop();
      this.resyncBackoff.reset();
    } catch (err) {
      this.fail(err, 'cannot list CertificateSigningRequests');
      this.scheduleResync(this.resyncBackoff.next());
    }
  }

  private scheduleResync(ms: number): void {
    if (this.stopped) return;
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      void this.resync();
    }, ms);
  }

  private enqueue(csr: CsrRecord): void {
    if (this.stopped || !this.opts.policy.isOurs(csr.signerName) || csrOutcome(csr) !== 'pending') return;
    const approved = csr.conditions.some((c) => c.type === 'Approved' && c.status === 'True');
    if (!approved && this.opts.approve === false) return;
    this.queue.set(csr.name, csr);
    this.kick();
  }

  private kick(): void {
    if (this.worker) return;
    this.worker = (async () => {
      while (!this.stopped && this.queue.size > 0) {
        const [name, csr] = this.queue.entries().next().value as [string, CsrRecord];
        this.queue.delete(name);
        await this.process(csr);
      }
    })().finally(() => {
      this.worker = undefined;
      if (this.queue.size > 0 && !this.stopped) this.kick();
      else this.releaseIdle();
    });
  }

  private releaseIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async process(csr: CsrRecord): Promise<void> {
    try {
      let current = csr;
      const approved = current.conditions.some((c) => c.type === 'Approved' && c.status === 'True');
      if (!approved) {
        const r = await approveOrDeny(current, { csrs: this.opts.csrs, policy: this.opts.policy, logger: this.opts.logger, ...(this.metrics ? { metrics: this.metrics } : {}) });
        if (!r.decision.allowed) return this.succeeded(csr.name);
        current = r.csr;
      }
      await signApproved(current, {
        csrs: this.opts.csrs,
        policy: this.opts.policy,
        ca: this.ca,
        clock: this.clock,
        logger: this.opts.logger,
        lifetime: this.opts.lifetime,
        ...(this.metrics ? { metrics: this.metrics } : {}),
      });
      this.succeeded(csr.name);
    } catch (err) {
      if (isConflict(err)) {
        // Someone (another replica, a human) changed it meanwhile: look again.
        const fresh = await this.opts.csrs.get(csr.name).catch(() => undefined);
        if (fresh) this.enqueue(fresh);
        return;
      }
      this.fail(err, 'cannot process certificate signing request', csr.name);
      this.retryLater(csr.name);
    }
  }

  private succeeded(name: string): void {
    this.backoffs.delete(name);
    this.lastFailure = undefined;
  }

  private retryLater(name: string): void {
    if (this.stopped || this.retries.has(name)) return;
    const backoff = this.backoffs.get(name) ?? new Backoff({ initialMs: this.opts.retryInitialMs ?? 1_000 });
    this.backoffs.set(name, backoff);
    const timer = this.clock.setTimeout(() => {
      this.retries.delete(name);
      void this.opts.csrs
        .get(name)
        .then((fresh) => fresh && this.enqueue(fresh))
        .catch((err: unknown) => {
          this.fail(err, 'cannot re-read certificate signing request', name);
          this.retryLater(name);
        });
    }, backoff.next());
    this.retries.set(name, timer);
  }

  private fail(err: unknown, what: string, csr?: string): void {
    this.lastFailure = `${what}: ${errorMessage(err)}`;
    this.metrics?.errors.inc({ reason: errorCode(err) });
    this.opts.logger.error(what, { ...(csr ? { csr } : {}), code: errorCode(err), err: errorMessage(err) });
  }
}
