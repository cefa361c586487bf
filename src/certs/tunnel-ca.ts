/**
 * The tunnel CA, kept in a Secret of the meta cluster (default
 * `kube-system/tunnel-ca`).
 *
 * - Created once: `ensure()` reads the Secret and creates it only when it is
 *   absent; when several replicas start together, one create wins and the
 *   others get 409 AlreadyExists and read the winner's CA, so all agree.
 * - Never replaced silently: a Secret that exists but is not a usable CA
 *   (bad PEM, key not matching, expired, not a CA) is a CertError
 *   ERR_CA_SECRET_INVALID and stays as it is for a human to fix.
 * - Rotation in three steps, each an update at the Secret's
 *   resourceVersion: `stageRotation()` creates the next CA and adds it to
 *   `ca-bundle.crt` (it signs nothing yet, so peers can learn to trust it
 *   first); `promoteRotation()` makes it the signing CA, keeping the old one
 *   in the bundle; `pruneBundle()` drops retired CAs once nothing they signed
 *   is in use (by default: once they have expired).
 */
import type { X509Certificate } from 'node:crypto';
// kube/errors.js itself, not kube/index.js: that one loads the Kubernetes client, which files mode never needs.
import { isAlreadyExists, isConflict } from '../kube/errors.js';
import type { SecretRecord, SecretStore } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import {
  bundleCertificates,
  createCaKeyPair,
  decodeCaSecret,
  encodeCaData,
  joinBundle,
  type CaMaterial,
} from './ca-secret.js';
import { systemClock, type CertClock } from './clock.js';
import { CertError } from './errors.js';
import { loadSigningCa, type SigningCa } from './leaf-issuer.js';
import { CA_LIFETIME_MS } from './timing.js';

/** Default namespace of the CA Secret. */
export const DEFAULT_CA_NAMESPACE = 'kube-system';
/** Default name of the CA Secret. */
export const DEFAULT_CA_SECRET_NAME = 'tunnel-ca';

/** Options of TunnelCa. */
export interface TunnelCaOptions {
  secrets: SecretStore;
  logger: Logger;
  clock?: CertClock;
  namespace?: string;
  name?: string;
  /** Lifetime of a new CA; default 10 years. */
  caLifetimeMs?: number;
  /** Common name prefix of new CAs (a timestamp is appended); default `tunnel.tkestack.io CA`. */
  commonName?: string;
}

const MAX_CONFLICT_RETRIES = 5;

/** The tunnel CA of one meta cluster. */
export class TunnelCa {
  private readonly clock: CertClock;
  private readonly ns: string;
  private readonly name: string;
  private signing: { certPem: string; ca: SigningCa } | undefined;

  constructor(private readonly opts: TunnelCaOptions) {
    this.clock = opts.clock ?? systemClock;
    this.ns = opts.namespace ?? DEFAULT_CA_NAMESPACE;
    this.name = opts.name ?? DEFAULT_CA_SECRET_NAME;
  }

  /** `namespace/name` of the Secret. */
  get secretRef(): string {
    return `${this.ns}/${this.name}`;
  }

  /** Reads the CA, creating it when the Secret does not exist (see the file comment). */
  async ensure(): Promise<CaMaterial> {
    const existing = await this.opts.secrets.get(this.ns, this.name);
    if (existing) return this.decode(existing);
    const now = this.clock.now();
    const active = await createCaKeyPair(this.caName(now), now, this.opts.caLifetimeMs ?? CA_LIFETIME_MS);
    const m: CaMaterial = { active, bundlePem: active.certPem };
    try {
      const created = await this.opts.secrets.create({
        namespace: this.ns,
        name: this.name,
        type: 'Opaque',
        labels: { 'app.kubernetes.io/name': 'tke-anp-tunnel', 'app.kubernetes.io/component': 'ca' },
        data: encodeCaData(m),
      });
      this.opts.logger.info('created the tunnel CA', { secret: this.secretRef });
      return this.decode(created);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      this.opts.logger.info('another replica created the tunnel CA first; using it', { secret: this.secretRef });
      const winner = await this.opts.secrets.get(this.ns, this.name);
      if (!winner) throw new CertError('ERR_CA_SECRET_INVALID', `CA Secret ${this.secretRef} was created and deleted again at once`, { cause: err });
      return this.decode(winner);
    }
  }

  /** Reads and checks the CA; throws CertError ERR_CA_SECRET_INVALID when missing or unusable. */
  async load(): Promise<CaMaterial> {
    const s = await this.opts.secrets.get(this.ns, this.name);
    if (!s) throw new CertError('ERR_CA_SECRET_INVALID', `CA Secret ${this.secretRef} does not exist`);
    return this.decode(s);
  }

  /** The signing CA as it is in the Secret now (re-read each call; the imported key is cached). */
  async signingCa(): Promise<SigningCa> {
    const m = await this.load();
    if (this.signing?.certPem !== m.active.certPem) {
      this.signing = { certPem: m.active.certPem, ca: await loadSigningCa(m.active, `CA Secret ${this.secretRef}`) };
    }
    return this.signing.ca;
  }

  /** The trust bundle (PEM) peers should trust now. */
  async trustBundle(): Promise<string> {
    return (await this.load()).bundlePem;
  }

  /** Step 1 of a rotation: a new CA in the bundle, not signing yet. Idempotent while one is staged. */
  async stageRotation(): Promise<CaMaterial> {
    return this.modify(async (m) => {
      if (m.next) return undefined;
      const now = this.clock.now();
      const next = await createCaKeyPair(this.caName(now), now, this.opts.caLifetimeMs ?? CA_LIFETIME_MS);
      this.opts.logger.info('staged a new tunnel CA in the trust bundle; it signs after promotion', { secret: this.secretRef });
      return { ...m, next, bundlePem: joinBundle([...bundleCertificates(m.bundlePem), ...bundleCertificates(next.certPem)]) };
    });
  }

  /** Step 2: the staged CA signs from now on; the old one stays in the bundle. */
  async promoteRotation(): Promise<CaMaterial> {
    return this.modify(async (m) => {
      if (!m.next) throw new CertError('ERR_CERT_CONFIG', `CA Secret ${this.secretRef}: no staged CA to promote (stage a rotation first)`);
      this.opts.logger.info('promoted the staged tunnel CA; it signs from now on', { secret: this.secretRef });
      return { active: m.next, bundlePem: m.bundlePem };
    });
  }

  /**
   * Step 3: drops retired CAs from the bundle for which `keep` is false
   * (default: keep until they expire). The signing and staged CAs always stay.
   */
  async pruneBundle(keep?: (cert: X509Certificate) => boolean): Promise<CaMaterial> {
    const now = this.clock.now();
    const keepIt = keep ?? ((c: X509Certificate) => new Date(c.validTo).getTime() > now);
    return this.modify(async (m) => {
      const pinned = [m.active.certPem, m.next?.certPem].filter((p): p is string => !!p).flatMap((p) => bundleCertificates(p));
      const all = bundleCertificates(m.bundlePem);
      const kept = all.filter((c) => pinned.some((p) => p.raw.equals(c.raw)) || keepIt(c));
      if (kept.length === all.length) return undefined;
      this.opts.logger.info('removed retired CAs from the trust bundle', { secret: this.secretRef, removed: all.length - kept.length });
      return { ...m, bundlePem: joinBundle(kept) };
    });
  }

  /** Read-modify-write at the read resourceVersion, retried on conflicts. `change` returns undefined for no change. */
  private async modify(change: (m: CaMaterial) => Promise<CaMaterial | undefined>): Promise<CaMaterial> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.opts.secrets.get(this.ns, this.name);
      if (!s) throw new CertError('ERR_CA_SECRET_INVALID', `CA Secret ${this.secretRef} does not exist`);
      const m = this.decode(s);
      const next = await change(m);
      if (!next) return m;
      try {
        const data = { ...s.data };
        delete data['next.crt'];
        delete data['next.key'];
        const updated: SecretRecord = { ...s, data: { ...data, ...encodeCaData(next) } };
        return this.decode(await this.opts.secrets.update(updated));
      } catch (err) {
        if (!isConflict(err) || attempt >= MAX_CONFLICT_RETRIES) throw err;
      }
    }
  }

  private decode(s: SecretRecord): CaMaterial {
    return decodeCaSecret(s, this.clock.now());
  }

  private caName(now: number): string {
    return `${this.opts.commonName ?? 'tunnel.tkestack.io CA'} ${new Date(now).toISOString()}`;
  }
}
