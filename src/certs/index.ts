/**
 * The certificate layer: certificate sources (files, Kubernetes CSR,
 * static), hot swap into grpc-js and tls.Server, the CSR manager, and the
 * signer/approver controller with the tunnel CA.
 */
export { ApproverPolicy, bootstrapServiceAccountRule, type AllowedSans, type ApproverPolicyOptions, type CsrFacts, type PolicyDecision, type PolicyRule, type RequesterClusterRule } from './approver-policy.js';
export { approveOrDeny, csrFacts, POLICY_REASON } from './approver.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { makeBundle, type BundleInput, type CertificateBundle } from './bundle.js';
export { CA_BUNDLE_KEY, CA_CERT_KEY, CA_KEY_KEY, type CaKeyPair, type CaMaterial } from './ca-secret.js';
export { systemClock, type CertClock } from './clock.js';
export { CsrManager, type CsrManagerOptions, type CsrManagerStatus } from './csr-manager.js';
export { agentProfile, serverProfile, type CertificateProfile } from './csr-profiles.js';
export { createCsrPem, parseCsrPem, type CreateCsrOptions, type CsrSubject, type ParsedCsr } from './csr-request.js';
export { csrApiRequester, type CertificateRequest, type CertificateRequester, type CsrApiRequesterOptions } from './csr-requester.js';
export { CertError, type CertErrorCode } from './errors.js';
export {
  channelCredentialsFromSource,
  serverCredentialsFromSource,
  SourceCertificateProvider,
  type SourceChannelCredentialsOptions,
  type SourceServerCredentialsOptions,
} from './grpc-provider.js';
export { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from './key-pair.js';
export { SignerController, type SignerControllerOptions } from './signer-controller.js';
export { backdateFor, checkLifetimePolicy, leafLifetimeMs, type LifetimePolicy } from './signer.js';
export {
  AGENT_USAGES,
  agentCommonName,
  bootstrapUser,
  clusterOfCommonName,
  DEFAULT_AGENT_GROUP,
  DEFAULT_BOOTSTRAP_NAMESPACE,
  DEFAULT_SERVER_COMMON_NAME,
  DEFAULT_SIGNER_PREFIX,
  SERVER_USAGES,
  signerNames,
  type SignerNames,
} from './signer-names.js';
export type { CertificateListener, CertificateSource } from './source.js';
export { CsrCertificateSource } from './source-csr.js';
export { FileCertificateSource, openFileSource, type FileSourceOptions } from './source-files.js';
export { StaticCertificateSource } from './source-static.js';
export { followSourceOnTlsServer, tlsContextOptions, type TlsFollowOptions } from './tls-server.js';
export { DEFAULT_CA_NAMESPACE, DEFAULT_CA_SECRET_NAME, TunnelCa, type TunnelCaOptions } from './tunnel-ca.js';
export * as certTiming from './timing.js';
