/** Metrics of the CSR manager, labelled by role (server, agent) and usage (server, client). */
import type { Counter, Gauge, Registry } from 'prom-client';
import { counterOn, gaugeOn } from './metric-util.js';

/** The manager's metrics. */
export interface CertMetrics {
  /** tunnel_certificate_expiration_seconds{role, usage}: notAfter of the certificate in use (unix seconds). */
  expiration: Gauge<'role' | 'usage'>;
  /** tunnel_certificate_rotations_total{role, usage}: certificates obtained (the first included). */
  rotations: Counter<'role' | 'usage'>;
  /** tunnel_certificate_rotation_failures_total{role, usage, reason}: failed attempts, by error code. */
  failures: Counter<'role' | 'usage' | 'reason'>;
}

/** Registers (or finds) the manager's metrics on `registry`. */
export function certMetrics(registry: Registry): CertMetrics {
  return {
    expiration: gaugeOn(registry, 'tunnel_certificate_expiration_seconds', 'Expiry (unix time, seconds) of the certificate in use, by role and usage.', ['role', 'usage']),
    rotations: counterOn(registry, 'tunnel_certificate_rotations_total', 'Certificates obtained through the CSR API, by role and usage.', ['role', 'usage']),
    failures: counterOn(registry, 'tunnel_certificate_rotation_failures_total', 'Failed attempts to obtain a certificate, by role, usage and error code.', ['role', 'usage', 'reason']),
  };
}
