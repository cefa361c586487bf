/** The resource table a fake API starts with; pass more kinds with `startFakeKube({ kinds })`. */
import type { ResourceKind } from '../types.js';
import { csrKind } from './csr.js';
import { leaseKind } from './lease.js';
import { namespaceKind } from './namespace.js';
import { secretKind } from './secret.js';
import { serviceAccountKind } from './service-account.js';
import { tokenReviewKind } from './token-review.js';

export { leaseKind, namespaceKind, secretKind, serviceAccountKind, tokenReviewKind };

/** Namespace, Secret, ServiceAccount (with `token`), Lease, TokenReview. */
export function defaultKinds(): ResourceKind[] {
  return [namespaceKind, secretKind, serviceAccountKind, leaseKind, tokenReviewKind, csrKind];
}

// Kinds registered per test (startFakeKube({ kinds })), not by default.
export { configMapKind } from './config-map.js';
export { clusterCredentialKind, clusterCredentialKindWithoutFieldSelectors } from './cluster-credential.js';
