/**
 * The only way production code reaches Kubernetes: configuration loading,
 * small typed interfaces (TokenReviewer, SecretStore, LeaseStore) and their
 * client-node implementations, and KubeError.
 */
export { loadKubeConfig, SERVICE_ACCOUNT_DIR, type LoadKubeConfigOptions } from './config.js';
export { isAlreadyExists, isConflict, isNotFound, KubeError, toKubeError, type KubeErrorCause, type KubeErrorCode } from './errors.js';
export { createCsrClient, toCsrRecord, type CsrClientOptions } from './csr-client.js';
export type { CsrClient, CsrCondition, CsrCreate, CsrEvent, CsrList, CsrRecord, CsrWatch, CsrWatchOptions } from './csr-types.js';
export { csrOutcome, waitForCsr, type CsrOutcome, type WaitForCsrOptions } from './csr-wait.js';
export { createLeaseStore, type LeaseStoreOptions } from './lease-store.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from './request.js';
export { createSecretStore, type SecretStoreOptions } from './secret-store.js';
export { createTokenReviewer, type TokenReviewerOptions } from './token-reviewer.js';
export type { LeaseRecord, LeaseStore, SecretRecord, SecretStore, TokenReviewer, TokenReviewResult } from './types.js';
