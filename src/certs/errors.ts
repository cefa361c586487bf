/**
 * Typed errors of the certificate layer. `code` is stable (tests, logs and
 * the `reason` label of rotation failure metrics use it); the message says
 * what happened in words an operator can act on.
 */

/** Stable error codes. */
export type CertErrorCode =
  /** A certificate, key or bundle is unreadable, malformed, or the key does not match the certificate. */
  | 'ERR_CERT_INVALID'
  /** The CSR was denied (message: the Denied condition's reason and message). */
  | 'ERR_CSR_DENIED'
  /** The signer marked the CSR Failed. */
  | 'ERR_CSR_FAILED'
  /** Nobody approved or denied the CSR in time. */
  | 'ERR_CSR_PENDING_TIMEOUT'
  /** The Kubernetes API could not be asked (wraps a KubeError). */
  | 'ERR_CSR_API'
  /** The CA Secret exists but is not a usable CA; it is never replaced silently. */
  | 'ERR_CA_SECRET_INVALID'
  /** A configuration value is out of range. */
  | 'ERR_CERT_CONFIG'
  /** The component was closed while the operation ran. */
  | 'ERR_CERT_CLOSED';

/** An error of the certificate layer. */
export class CertError extends Error {
  readonly code: CertErrorCode;

  constructor(code: CertErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CertError';
    this.code = code;
  }
}

/** The error code of anything thrown, for metric labels (`ERR_UNKNOWN` when there is none). */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'ERR_UNKNOWN';
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
