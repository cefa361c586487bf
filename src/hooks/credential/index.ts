/**
 * Helpers of the credential-reporting providers (`tkestack`, `tke`), open
 * to user modules too: read a managed-cluster ServiceAccount's credential
 * from a TokenRequest, its token Secret or a token file, and keep it
 * reported as it rotates.
 */
export { kubeconfigCa, readClusterCa } from './cluster-ca.js';
export { createCredentialSource } from './create-source.js';
export { parseCredentialOptions, type CredentialOptions, type TokenSourceKind } from './options.js';
export { reportCredential, type CredentialReporter } from './report-loop.js';
export { createTokenFileSource, type TokenFileSourceOptions } from './token-file-source.js';
export { createTokenRequestSource, type TokenRequestSourceOptions } from './token-request-source.js';
export { createTokenSecretSource, type TokenSecretSourceOptions } from './token-secret-source.js';
export { sameCredential, type CredentialSource, type ManagedCredential } from './types.js';
