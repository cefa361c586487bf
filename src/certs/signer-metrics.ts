/** Metrics of the signer/approver controller. */
import type { Counter, Registry } from 'prom-client';
import { counterOn } from './metric-util.js';

/** The controller's counters. */
export interface SignerMetrics {
  /** tunnel_csr_decisions_total{signer, decision=approved|denied, rule}. */
  decisions: Counter<'signer' | 'decision' | 'rule'>;
  /** tunnel_csr_issued_total{signer}. */
  issued: Counter<'signer'>;
  /** tunnel_csr_signing_failures_total{signer, reason}: requests marked Failed by the signer. */
  failed: Counter<'signer' | 'reason'>;
  /** tunnel_signer_errors_total{reason}: errors of the controller itself (API, CA Secret), retried. */
  errors: Counter<'reason'>;
}

/** Registers (or finds) the controller's metrics on `registry`. */
export function signerMetrics(registry: Registry): SignerMetrics {
  return {
    decisions: counterOn(registry, 'tunnel_csr_decisions_total', 'CSR approval decisions of the tunnel signer, by signer, decision and broken rule.', ['signer', 'decision', 'rule']),
    issued: counterOn(registry, 'tunnel_csr_issued_total', 'Certificates issued by the tunnel signer, by signer.', ['signer']),
    failed: counterOn(registry, 'tunnel_csr_signing_failures_total', 'Approved CSRs the tunnel signer refused to sign (marked Failed), by signer and reason.', ['signer', 'reason']),
    errors: counterOn(registry, 'tunnel_signer_errors_total', 'Errors of the tunnel signer controller (retried), by error code.', ['reason']),
  };
}
