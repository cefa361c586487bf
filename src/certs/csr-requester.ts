/**
 * CertificateRequester: submits a PKCS#10 request and resolves with the
 * issued certificate. The production one goes through the Kubernetes CSR
 * API (a CertificateSigningRequest with explicit signerName, usages and
 * expirationSeconds, then a wait until it is issued, denied or failed);
 * tests can inject their own.
 */
// The kube modules themselves, not kube/index.js: that one loads the Kubernetes client, which files mode never needs.
import type { CsrClient } from '../kube/csr-types.js';
import { waitForCsr } from '../kube/csr-wait.js';
import { KubeError } from '../kube/errors.js';
import type { Logger } from '../observability/logger.js';
import { CertError } from './errors.js';
import { CSR_PENDING_TIMEOUT_MS, CSR_POLL_INTERVAL_MS } from './timing.js';

/** One request for a certificate. */
export interface CertificateRequest {
  /** PEM `CERTIFICATE REQUEST`. */
  csrPem: string;
  signerName: string;
  usages: string[];
  expirationSeconds?: number;
  /** Name prefix of the CSR object (the API completes it). */
  namePrefix: string;
  labels?: Record<string, string>;
}

/**
 * Resolves with the certificate PEM; rejects with CertError
 * (ERR_CSR_DENIED, ERR_CSR_FAILED, ERR_CSR_PENDING_TIMEOUT, ERR_CSR_API).
 */
export type CertificateRequester = (req: CertificateRequest, signal?: AbortSignal) => Promise<string>;

/** Options of csrApiRequester. */
export interface CsrApiRequesterOptions {
  logger: Logger;
  /** How long a CSR may stay undecided; default 15 minutes. */
  pendingTimeoutMs?: number;
  /** Re-read period while waiting; default 5 s. */
  pollIntervalMs?: number;
}

/** A requester that creates CertificateSigningRequests through `csrs`. */
export function csrApiRequester(csrs: CsrClient, opts: CsrApiRequesterOptions): CertificateRequester {
  const timeoutMs = opts.pendingTimeoutMs ?? CSR_PENDING_TIMEOUT_MS;
  return async (req, signal) => {
    let name = `${req.namePrefix}*`;
    try {
      const created = await csrs.create({
        generateName: req.namePrefix,
        signerName: req.signerName,
        request: req.csrPem,
        usages: req.usages,
        ...(req.expirationSeconds !== undefined ? { expirationSeconds: req.expirationSeconds } : {}),
        ...(req.labels ? { labels: req.labels } : {}),
      });
      name = created.name;
      opts.logger.info('submitted certificate signing request', { csr: name, signer: req.signerName });
      const { outcome, csr } = await waitForCsr(csrs, name, {
        timeoutMs,
        pollIntervalMs: Math.min(opts.pollIntervalMs ?? CSR_POLL_INTERVAL_MS, timeoutMs),
        ...(signal ? { signal } : {}),
      });
      const cond = (t: string): string => {
        const c = csr.conditions.find((x) => x.type === t);
        return c ? `${c.reason ?? 'no reason'}: ${c.message ?? 'no message'}` : 'no condition';
      };
      switch (outcome) {
        case 'issued':
          return csr.certificate!;
        case 'denied':
          throw new CertError('ERR_CSR_DENIED', `certificate signing request ${name} was denied (${cond('Denied')})`);
        case 'failed':
          throw new CertError('ERR_CSR_FAILED', `certificate signing request ${name} failed (${cond('Failed')})`);
        default:
          throw new CertError(
            'ERR_CSR_PENDING_TIMEOUT',
            `certificate signing request ${name} is still pending after ${Math.round(timeoutMs / 1000)} s: nobody approved or denied it (is the tunnel server's signer running for ${req.signerName}?)`,
          );
      }
    } catch (err) {
      if (err instanceof CertError) throw err;
      if (signal?.aborted) throw new CertError('ERR_CERT_CLOSED', 'certificate request abandoned: closing', { cause: err });
      if (err instanceof KubeError) {
        throw new CertError('ERR_CSR_API', `certificate signing request ${name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  };
}
