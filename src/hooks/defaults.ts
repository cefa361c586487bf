/** Every default and timing constant of the hooks and the built-in providers, in one place. */

/** --hook-timeout: how long one hook run may take. */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

/** Retry of a failed hook (policy retry): first wait. */
export const HOOK_RETRY_INITIAL_MS = 1_000;
/** Retry: growth of the wait per failure. */
export const HOOK_RETRY_FACTOR = 2;
/** Retry: the longest wait before jitter. */
export const HOOK_RETRY_MAX_MS = 60_000;
/** Retry: a wait of d lasts d + random × jitter × d. */
export const HOOK_RETRY_JITTER = 0.2;

/** How long stop() waits for background tasks after aborting them. */
export const HOOK_STOP_GRACE_MS = 5_000;

/** The meta-cluster namespace of the `tke` provider's Secrets (--credential-namespace). */
export const DEFAULT_CREDENTIAL_NAMESPACE = 'tke-anp-tunnel';
/** The managed-cluster ServiceAccount whose credential is reported (--credential-service-account). */
export const DEFAULT_CREDENTIAL_SERVICE_ACCOUNT = 'tunnel-system/tunnel-credential';
/** Lifetime asked for in a TokenRequest (--credential-token-ttl); the API's minimum is 10 min. */
export const DEFAULT_CREDENTIAL_TOKEN_TTL_MS = 3_600_000;
/** The API server refuses TokenRequests shorter than this. */
export const MIN_CREDENTIAL_TOKEN_TTL_MS = 600_000;
/** A TokenRequest token is replaced at this share of its lifetime. */
export const TOKEN_REFRESH_FRACTION = 0.8;
/** The agent pod's own projected token (--credential-token-source=file). */
export const DEFAULT_CREDENTIAL_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
/** How often a token file is re-read for rotation (the kubelet rewrites it). */
export const TOKEN_FILE_POLL_MS = 60_000;
/** The ConfigMap every namespace has with the cluster's CA bundle (key ca.crt). */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** A token Secret watch is ended by the server after about this long, then re-opened. */
export const SECRET_WATCH_TIMEOUT_S = 300;
/** Wait before re-opening a token Secret watch that failed. */
export const SECRET_WATCH_RETRY_MS = 5_000;
/** Attempts of the `tke` provider's read-modify-update when the Secret keeps changing under it. */
export const SECRET_UPDATE_ATTEMPTS = 5;
/** Label of the `tke` provider's Secrets. */
export const CLUSTER_NAME_LABEL = 'tunnel.tkestack.io/cluster-name';
