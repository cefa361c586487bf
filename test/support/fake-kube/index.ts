/**
 * A faithful in-process Kubernetes API for tests. Start one with
 * startFakeKube(), talk to it with the real @kubernetes/client-node through
 * `fake.kubeConfig()` or `fake.kubeconfigPath`, seed and inspect objects
 * through `fake.store`. README.md explains the resource table and how to
 * add a kind.
 */
export { apiFailure } from './api-error.js';
export { startFakeKube, type FakeKube, type FakeKubeOptions } from './fake-kube.js';
export type { AccessRule } from './authz.js';
export type { Fault, Interceptor, RequestRecord } from './handler.js';
export { defaultKinds, leaseKind, namespaceKind, secretKind, serviceAccountKind, tokenReviewKind } from './kinds/index.js';
export { Registry, STORE_USER, type DeleteOptions, type ListOptions, type ListResult, type WriteOptions } from './registry.js';
export {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  StatusError,
  type StatusBody,
} from './status.js';
export { DEFAULT_API_AUDIENCES, type StaticUser } from './tokens.js';
export {
  apiVersionOf,
  qualifiedResource,
  type Cause,
  type CreateSubresource,
  type KubeObject,
  type ObjectMeta,
  type ResourceKind,
  type StoredObject,
  type Subresource,
  type UpdateSubresource,
  type UserInfo,
  type WriteContext,
} from './types.js';
export { forbiddenField, invalidValue, required } from './validation.js';
