/**
 * Every default and timing constant of the certificate layer in one place:
 * renewal points, backoff, CSR waits, file reloads, signing floors and the
 * readiness threshold. Options of the individual modules fall back to these.
 */

/** Renewal starts at a random point between these fractions of a certificate's lifetime (client-go's 70–90 %). */
export const RENEW_AT_MIN_FRACTION = 0.7;
/** Upper end of the jittered renewal point. */
export const RENEW_AT_MAX_FRACTION = 0.9;
/**
 * `ready()` turns false once less than this fraction of the current
 * certificate's lifetime is left. Renewal starts at 90 % at the latest, so
 * only renewals that keep failing (or stay pending) get there.
 */
export const NOT_READY_REMAINING_FRACTION = 0.1;
/** A stored certificate is reused at start only when more than this fraction of its lifetime is left. */
export const REUSE_MIN_REMAINING_FRACTION = NOT_READY_REMAINING_FRACTION;

/** First retry delay after a failed issuance. */
export const RETRY_INITIAL_MS = 2_000;
/** Retry delays never grow beyond this. */
export const RETRY_MAX_MS = 5 * 60_000;
/** Growth factor of the retry delay. */
export const RETRY_MULTIPLIER = 2;
/** Retry delays are spread by ±this fraction so replicas do not retry in step. */
export const RETRY_JITTER_FRACTION = 0.2;

/** How long a submitted CSR may stay pending (no Approved/Denied, no certificate) before the attempt fails. */
export const CSR_PENDING_TIMEOUT_MS = 15 * 60_000;
/** While waiting for a CSR, re-read it this often in case the watch misses an update. */
export const CSR_POLL_INTERVAL_MS = 5_000;

/** File sources coalesce bursts of file events (a Secret update writes several files) for this long. */
export const FILE_RELOAD_DEBOUNCE_MS = 200;
/** File sources also stat their files this often, for file systems where fs.watch says nothing. */
export const FILE_POLL_INTERVAL_MS = 10_000;

/** The API's minimum `expirationSeconds`, and the signer's production floor for a leaf lifetime. */
export const MIN_LEAF_LIFETIME_MS = 10 * 60_000;
/** The CSR API's minimum `spec.expirationSeconds`. */
export const MIN_CSR_EXPIRATION_SECONDS = 600;
/**
 * The `expirationSeconds` a CSR asks for a lifetime: never under the API's
 * minimum (a real apiserver refuses less). A shorter --cert-lifetime (tests,
 * TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1) is enforced by the tunnel signer's cap.
 */
export function csrExpirationSeconds(lifetimeMs: number): number {
  return Math.max(MIN_CSR_EXPIRATION_SECONDS, Math.round(lifetimeMs / 1000));
}
/** Default leaf lifetime (`--cert-lifetime`). */
export const DEFAULT_LEAF_LIFETIME_MS = 24 * 60 * 60_000;
/**
 * Issued certificates start this much before the signing time, so a peer
 * whose clock runs behind the signer's accepts them at once (what
 * kube-controller-manager's signer does). Capped at a quarter of the
 * lifetime so short test lifetimes keep a sane renewal schedule.
 */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60_000;
/** Lifetime of a tunnel CA created by the signer. */
export const CA_LIFETIME_MS = 10 * 365 * 24 * 60 * 60_000;
/** The signer controller re-lists and re-watches CSRs after a broken watch, at the latest after this. */
export const SIGNER_REWATCH_MAX_MS = 30_000;
