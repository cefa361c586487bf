/**
 * The CSR manager: one identity's key and certificate from the Kubernetes
 * CSR API, kept fresh without restarts.
 *
 * - Keys are generated here (ECDSA P-256 by default) and written only to the
 *   cert dir (0600); a new key for every certificate. Every CSR names its
 *   signer, usages and expirationSeconds (default 24 h) explicitly.
 * - On start, a stored pair that parses, matches and has more than 10 % of
 *   its lifetime left is reused; anything else (absent, corrupt, mismatched,
 *   expired while offline) is logged and replaced before start() resolves.
 * - Renewal at a jittered 70–90 % of the lifetime; a failed attempt is
 *   retried with exponential backoff (2 s doubling to 5 min, ±20 %).
 * - Readiness: `ready()` is false while there is no certificate, or once
 *   under 10 % of the lifetime is left (only reachable when renewals keep
 *   failing or stay pending).
 * - A certificate whose notBefore is ahead of the local clock (clock skew
 *   beyond the signer's backdate) is used anyway and logged: peers judge
 *   validity with their own clocks, and refusing it would only turn skew
 *   into an outage.
 * - Metrics (role/usage labels): tunnel_certificate_expiration_seconds,
 *   tunnel_certificate_rotations_total, tunnel_certificate_rotation_failures_total.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { makeBundle, type CertificateBundle } from './bundle.js';
import { CertStore } from './cert-store.js';
import { systemClock, type CertClock, type TimerHandle } from './clock.js';
import { certMetrics, type CertMetrics } from './csr-metrics.js';
import { createCsrPem, type CsrSubject } from './csr-request.js';
import type { CertificateRequester } from './csr-requester.js';
import { CertError, errorCode, errorMessage } from './errors.js';
import { DEFAULT_KEY_ALGORITHM, generateKey, type KeyAlgorithm } from './key-pair.js';
import { ListenerSet } from './listeners.js';
import { nearExpiry, renewalTime, reusable } from './renewal.js';
import type { CertificateListener } from './source.js';
import { DEFAULT_LEAF_LIFETIME_MS, NOT_READY_REMAINING_FRACTION } from './timing.js';

/** Options of CsrManager (spread a CertificateProfile into it). */
export interface CsrManagerOptions {
  /** Directory of the key and certificate (created 0700). */
  certDir: string;
  /** File base name: `<name>.key`, `<name>.crt`. */
  name: string;
  /** Metric labels. */
  role: string;
  usage: string;
  signerName: string;
  subject: CsrSubject;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Kubernetes usages, e.g. ['digital signature', 'client auth']. */
  usages: string[];
  /** Prefix of the CSR objects' names. */
  csrNamePrefix: string;
  keyAlgorithm?: KeyAlgorithm;
  /** Asked lifetime (the signer clamps it to its floor and --cert-lifetime); default 24 h. */
  expirationSeconds?: number;
  requester: CertificateRequester;
  /** The CA bundle that verifies peers, handed out with the certificate. */
  caPem?: string;
  logger: Logger;
  clock?: CertClock;
  registry?: Registry;
  /** Randomness of the renewal point and backoff jitter; default Math.random. */
  random?: () => number;
  retry?: BackoffOptions;
}

/** A snapshot for logs, health details and tests. */
export interface CsrManagerStatus {
  serialNumber?: string;
  notAfter?: Date;
  /** When the next renewal (or retry) is due. */
  nextAttemptAt?: Date;
  /** Failed attempts since the last success. */
  consecutiveFailures: number;
  lastError?: string;
}

/** Keeps one identity's certificate issued and fresh. */
export class CsrManager {
  private bundle: CertificateBundle | undefined;
  private caPem: string;
  private readonly store: CertStore;
  private readonly clock: CertClock;
  private readonly random: () => number;
  private readonly listeners: ListenerSet;
  private readonly metrics: CertMetrics | undefined;
  private readonly backoff: Backoff;
  private readonly abort = new AbortController();
  private timer: TimerHandle | undefined;
  private nextAt: number | undefined;
  private inflight: Promise<CertificateBundle> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  private failures = 0;
  private lastFailure: string | undefined;

  constructor(private readonly opts: CsrManagerOptions) {
    this.caPem = opts.caPem ?? '';
    this.store = new CertStore(opts.certDir, opts.name);
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.listeners = new ListenerSet(opts.logger);
    this.metrics = opts.registry ? certMetrics(opts.registry) : undefined;
    this.backoff = new Backoff({ random: this.random, ...(opts.retry ?? {}) });
  }

  /** Paths of the stored key and certificate. */
  get files(): { certFile: string; keyFile: string } {
    return { certFile: this.store.certFile, keyFile: this.store.keyFile };
  }

  /**
   * Reuses the stored certificate or obtains one (retrying with backoff until
   * it succeeds or close() is called, which rejects with ERR_CERT_CLOSED);
   * then keeps renewing it.
   */
  async start(): Promise<CertificateBundle> {
    await this.store.ensureDir();
    const stored = await this.store.load(this.caPem);
    const now = this.clock.now();
    if (stored.state === 'present' && reusable(stored.bundle, now)) {
      this.adopt(stored.bundle);
      this.opts.logger.info('using the stored certificate', this.describe(stored.bundle));
      this.scheduleRenewal();
      return stored.bundle;
    }
    if (stored.state === 'invalid') {
      this.opts.logger.warn('stored certificate or key is unusable; requesting a new one', { file: this.store.certFile, reason: stored.reason });
    } else if (stored.state === 'present') {
      const expired = stored.bundle.notAfter.getTime() <= now;
      this.opts.logger.info(expired ? 'stored certificate expired; requesting a new one' : 'stored certificate is close to expiry; requesting a new one', this.describe(stored.bundle));
    } else {
      this.opts.logger.info('no stored certificate; requesting one', { file: this.store.certFile, signer: this.opts.signerName });
    }
    for (;;) {
      try {
        return await this.rotate();
      } catch (err) {
        if (this.closed) throw closedError(err);
        await this.sleep(this.backoff.next());
        if (this.closed) throw closedError(err);
      }
    }
  }

  /** The certificate in use, once there is one. */
  current(): CertificateBundle | undefined {
    return this.bundle;
  }

  /** Calls `listener` with every new certificate; returns its remover. */
  onChange(listener: CertificateListener): () => void {
    return this.listeners.add(listener);
  }

  /** Replaces the CA bundle handed out with the certificate (e.g. after a CA rotation) and tells the listeners. */
  setCaPem(caPem: string): void {
    if (caPem === this.caPem) return;
    this.caPem = caPem;
    if (!this.bundle) return;
    this.bundle = makeBundle({ certPem: this.bundle.certPem, keyPem: this.bundle.keyPem, caPem }, `certificate ${this.store.certFile}`);
    this.listeners.emit(this.bundle);
  }

  /** Obtains a new certificate now (also what the renewal timer does); rejects when this attempt fails. */
  rotate(): Promise<CertificateBundle> {
    if (this.closed) return Promise.reject(new CertError('ERR_CERT_CLOSED', 'certificate manager is closed'));
    this.inflight ??= this.obtain().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** True while a certificate is in use with more than 10 % of its lifetime left. */
  ready(): boolean {
    return this.check() === null;
  }

  /** null when ready, else why not (for /readyz?verbose). */
  check(): string | null {
    const b = this.bundle;
    const why = this.lastFailure ? `; last attempt failed: ${this.lastFailure}` : '';
    if (!b) return `no ${this.opts.role} certificate yet${why}`;
    if (!nearExpiry(b, this.clock.now())) return null;
    return `${this.opts.role} certificate ${b.serialNumber} expires at ${b.notAfter.toISOString()} (under ${NOT_READY_REMAINING_FRACTION * 100} % of its lifetime left) and has not been renewed${why}`;
  }

  /** A snapshot of the state. */
  status(): CsrManagerStatus {
    const s: CsrManagerStatus = { consecutiveFailures: this.failures };
    if (this.bundle) {
      s.serialNumber = this.bundle.serialNumber;
      s.notAfter = this.bundle.notAfter;
    }
    if (this.nextAt !== undefined) s.nextAttemptAt = new Date(this.nextAt);
    if (this.lastFailure) s.lastError = this.lastFailure;
    return s;
  }

  /** Stops renewing; an attempt in flight is abandoned. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort(new CertError('ERR_CERT_CLOSED', 'certificate manager is closed'));
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
    this.wake?.();
    this.listeners.clear();
    await this.inflight?.catch(() => undefined);
  }

  private async obtain(): Promise<CertificateBundle> {
    try {
      const key = await generateKey(this.opts.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM);
      const csrPem = await createCsrPem({
        subject: this.opts.subject,
        ...(this.opts.dnsNames ? { dnsNames: this.opts.dnsNames } : {}),
        ...(this.opts.ipAddresses ? { ipAddresses: this.opts.ipAddresses } : {}),
        keys: key.keys,
        algorithm: key.algorithm,
      });
      const certPem = await this.opts.requester(
        {
          csrPem,
          signerName: this.opts.signerName,
          usages: this.opts.usages,
          namePrefix: this.opts.csrNamePrefix,
          expirationSeconds: this.opts.expirationSeconds ?? Math.round(DEFAULT_LEAF_LIFETIME_MS / 1000),
        },
        this.abort.signal,
      );
      if (this.closed) throw new CertError('ERR_CERT_CLOSED', 'certificate manager is closed');
      const bundle = makeBundle({ certPem, keyPem: key.keyPem, caPem: this.caPem }, `certificate issued by ${this.opts.signerName}`);
      await this.store.save(certPem, key.keyPem);
      const previous = this.bundle;
      this.adopt(bundle);
      this.failures = 0;
      this.lastFailure = undefined;
      this.backoff.reset();
      this.metrics?.rotations.inc(this.labels());
      this.opts.logger.info('obtained a new certificate', { ...this.describe(bundle), previousSerial: previous?.serialNumber });
      this.checkSkew(bundle);
      this.scheduleRenewal();
      this.listeners.emit(bundle);
      return bundle;
    } catch (err) {
      if (!this.closed) this.recordFailure(err);
      throw this.closed ? closedError(err) : err;
    }
  }

  private adopt(bundle: CertificateBundle): void {
    this.bundle = bundle;
    this.metrics?.expiration.set(this.labels(), Math.floor(bundle.notAfter.getTime() / 1000));
  }

  private recordFailure(err: unknown): void {
    this.failures += 1;
    this.lastFailure = errorMessage(err);
    this.metrics?.failures.inc({ ...this.labels(), reason: errorCode(err) });
    const b = this.bundle;
    this.opts.logger.warn('could not obtain a certificate; will retry', {
      signer: this.opts.signerName,
      code: errorCode(err),
      err: this.lastFailure,
      consecutiveFailures: this.failures,
      ...(b ? { serial: b.serialNumber, notAfter: b.notAfter.toISOString() } : {}),
    });
  }

  private scheduleRenewal(): void {
    if (!this.bundle) return;
    this.schedule(renewalTime(this.bundle, this.random));
  }

  private schedule(at: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.nextAt = undefined;
      this.rotate().catch(() => {
        if (!this.closed) this.schedule(this.clock.now() + this.backoff.next());
      });
    }, Math.max(0, at - this.clock.now()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.nextAt = this.clock.now() + ms;
      const t = this.clock.setTimeout(() => {
        this.wake = undefined;
        this.nextAt = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.clock.clearTimeout(t);
        resolve();
      };
    });
  }

  private checkSkew(b: CertificateBundle): void {
    const ahead = b.notBefore.getTime() - this.clock.now();
    if (ahead > 1000) {
      this.opts.logger.warn('the new certificate is not valid yet by the local clock; using it anyway (check clock synchronisation)', {
        serial: b.serialNumber,
        notBefore: b.notBefore.toISOString(),
        aheadSeconds: Math.round(ahead / 1000),
      });
    }
  }

  private labels(): { role: string; usage: string } {
    return { role: this.opts.role, usage: this.opts.usage };
  }

  private describe(b: CertificateBundle): Record<string, unknown> {
    return { file: this.store.certFile, serial: b.serialNumber, notBefore: b.notBefore.toISOString(), notAfter: b.notAfter.toISOString() };
  }
}

function closedError(err: unknown): CertError {
  return err instanceof CertError && err.code === 'ERR_CERT_CLOSED' ? err : new CertError('ERR_CERT_CLOSED', 'certificate manager is closed', { cause: err });
}
