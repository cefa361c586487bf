/**
 * Signs one approved CSR of the tunnel's signers and writes the
 * certificate through `/status`.
 *
 * Lifetime: the CSR's expirationSeconds when given (else `--cert-lifetime`),
 * raised to the floor (10 minutes in production, the API's own minimum; a
 * lower floor is configurable for tests) and capped at `--cert-lifetime`.
 *
 * Clock skew: notBefore is backdated by 5 minutes (at most a quarter of the
 * lifetime), so a peer whose clock runs up to that much behind the signer's
 * accepts a new certificate at once; the CSR manager schedules renewal from
 * notBefore to notAfter as client-go does, so the backdate is counted in the
 * lifetime and renewal stays before expiry.
 *
 * Before signing, the content rules of the policy are checked again (the
 * approval may have come from someone else); a request that breaks them is
 * marked Failed with reason `TunnelPolicy` instead of being signed.
 */
import type { CsrClient, CsrRecord } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import type { ApproverPolicy } from './approver-policy.js';
import { csrFacts, POLICY_REASON } from './approver.js';
import type { CertClock } from './clock.js';
import { CertError } from './errors.js';
import { issueLeaf } from './leaf-issuer.js';
import type { SignerMetrics } from './signer-metrics.js';
import { MIN_LEAF_LIFETIME_MS, NOT_BEFORE_BACKDATE_MS } from './timing.js';
import type { TunnelCa } from './tunnel-ca.js';

/** How long issued certificates live. */
export interface LifetimePolicy {
  /** `--cert-lifetime`: the longest lifetime, and the default. */
  certLifetimeMs: number;
  /** The shortest lifetime; default 10 minutes. */
  minLifetimeMs?: number;
  /** Backdate of notBefore; default 5 minutes (at most a quarter of the lifetime). */
  backdateMs?: number;
}

/** Checks a lifetime policy; throws CertError ERR_CERT_CONFIG. */
export function checkLifetimePolicy(p: LifetimePolicy): void {
  const floor = p.minLifetimeMs ?? MIN_LEAF_LIFETIME_MS;
  if (!(floor > 0) || !(p.certLifetimeMs >= floor)) {
    throw new CertError('ERR_CERT_CONFIG', `certificate lifetime ${p.certLifetimeMs} ms must be at least the floor of ${floor} ms`);
  }
}

/** The lifetime of a certificate asked for `expirationSeconds`. */
export function leafLifetimeMs(expirationSeconds: number | undefined, p: LifetimePolicy): number {
  const floor = p.minLifetimeMs ?? MIN_LEAF_LIFETIME_MS;
  const asked = expirationSeconds !== undefined ? expirationSeconds * 1000 : p.certLifetimeMs;
  return Math.min(p.certLifetimeMs, Math.max(floor, asked));
}

/** The notBefore backdate of a certificate of `lifetimeMs`. */
export function backdateFor(lifetimeMs: number, p: LifetimePolicy): number {
  return Math.min(p.backdateMs ?? NOT_BEFORE_BACKDATE_MS, Math.floor(lifetimeMs / 4));
}

/** What signApproved needs. */
export interface SignerDeps {
  csrs: CsrClient;
  policy: ApproverPolicy;
  ca: TunnelCa;
  clock: CertClock;
  logger: Logger;
  lifetime: LifetimePolicy;
  metrics?: SignerMetrics;
}

/** Signs an approved CSR (or marks it Failed when its content breaks the policy); resolves with the updated CSR. */
export async function signApproved(csr: CsrRecord, deps: SignerDeps): Promise<CsrRecord> {
  const facts = csrFacts(csr);
  const check = facts ? deps.policy.checkContent(facts) : { allowed: false as const, rule: 'signature', message: 'rule signature: spec.request is not a PKCS#10 certificate request' };
  if (!check.allowed) {
    const updated = await deps.csrs.setFailed(csr, POLICY_REASON, check.message);
    deps.logger.warn('refused to sign an approved certificate signing request', { csr: csr.name, signer: csr.signerName, reason: check.message });
    deps.metrics?.failed.inc({ signer: csr.signerName, reason: check.rule });
    return updated;
  }
  const ca = await deps.ca.signingCa();
  const lifetimeMs = leafLifetimeMs(csr.expirationSeconds, deps.lifetime);
  const now = deps.clock.now();
  const pem = await issueLeaf({ ca, request: facts!.request, usages: csr.usages, now, lifetimeMs, backdateMs: backdateFor(lifetimeMs, deps.lifetime) });
  const updated = await deps.csrs.setCertificate(csr, pem);
  deps.logger.info('issued certificate', { csr: csr.name, signer: csr.signerName, subject: facts!.request.subject, lifetimeMs });
  deps.metrics?.issued.inc({ signer: csr.signerName });
  return updated;
}
