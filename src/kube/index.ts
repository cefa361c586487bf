/**
 * The only way production code reaches Kubernetes: configuration loading,
 * small typed interfaces (TokenReviewer, SecretStore, LeaseStore) and their
 * client-node implementations, and KubeError.
 */
export { kubeConfigFor, loadKubeConfig, SERVICE_ACCOUNT_DIR, type LoadKubeConfigOptions } from './config.js';
export { isAlreadyExists, isConflict, isNotFound, KubeError, toKubeError, type KubeErrorCause, type KubeErrorCode } from './errors.js';
export { createCsrClient, toCsrRecord, type CsrClientOptions } from './csr-client.js';
export type { CsrClient, CsrCondition, CsrCreate, CsrEvent, CsrList, CsrRecord, CsrWatch, CsrWatchOptions } from './csr-types.js';
export { csrOutcome, waitForCsr, type CsrOutcome, type WaitForCsrOptions } from './csr-wait.js';
export { createLeaseStore, type LeaseStoreOptions } from './lease-store.js';
export { countLiveLeases, isLeaseLive, leaseExpiresAt } from './lease-validity.js';
export { PeriodicTask, type Step, type TaskTimers } from './periodic.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from './request.js';
export { createSecretStore, type SecretStoreOptions } from './secret-store.js';
export { createTokenReviewer, type TokenReviewerOptions } from './token-reviewer.js';
export type { LeaseRecord, LeaseStore, SecretRecord, SecretStore, TokenReviewer, TokenReviewResult } from './types.js';
export {
  CLUSTER_CREDENTIAL_RESOURCE,
  createClusterCredentialClient,
  type ClusterCredentialClient,
  type ClusterCredentialClientOptions,
  type ClusterCredentialLookup,
  type ClusterCredentialRecord,
  type ClusterCredentialUpdate,
} from './cluster-credential.js';
export { createConfigMapReader, type ConfigMapReader, type ConfigMapReaderOptions, type ConfigMapRecord } from './config-map-reader.js';
export { currentClusterCaPem } from './kubeconfig-ca.js';
export { watchSecret, type SecretWatch, type SecretWatchEventType, type SecretWatchHandlers, type SecretWatchOptions } from './secret-watch.js';
export {
  createTokenRequester,
  type IssuedToken,
  type TokenRequester,
  type TokenRequesterOptions,
  type TokenRequestSpec,
} from './service-account-token.js';
