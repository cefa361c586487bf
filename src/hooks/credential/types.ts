/** The managed cluster's credential as the credential-reporting providers handle it. */

/** A token and the CA bundle that verifies the managed apiserver. Never log `token`. */
export interface ManagedCredential {
  token: string;
  caPem: string;
  /** When the token expires, when known (TokenRequest). */
  expiresAt?: Date;
}

/** Where the credential comes from; one per provider instance (it keeps what it read last). */
export interface CredentialSource {
  /** For logs, e.g. `TokenRequest for ServiceAccount tunnel-system/tunnel-credential`. */
  readonly description: string;
  /** Reads the credential now (the TokenRequest source issues a new token); rejects with a clear error. */
  current(signal: AbortSignal): Promise<ManagedCredential>;
  /**
   * Resolves when the credential may have changed since the last
   * current(): the token is near its end, its Secret changed, the file may
   * have been rewritten; or at once when `signal` is aborted. Never rejects.
   */
  changed(signal: AbortSignal): Promise<void>;
}

/** True when both carry the same token and CA. */
export function sameCredential(a: ManagedCredential, b: ManagedCredential): boolean {
  return a.token === b.token && a.caPem === b.caPem;
}
