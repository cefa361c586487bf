/**
 * The few Kubernetes operations the tunnel uses, as small interfaces, so
 * other layers depend on these and tests can swap in fakes. Implementations
 * over @kubernetes/client-node live beside this file; all of them reject
 * with KubeError.
 */

/** What a TokenReview said about a token. */
export interface TokenReviewResult {
  authenticated: boolean;
  /** e.g. `system:serviceaccount:kube-system:konnectivity-agent`. */
  username?: string;
  uid?: string;
  groups: string[];
  /** Audiences the token is valid for, among those asked. */
  audiences: string[];
  /** Why the token was not accepted, when the API says. */
  error?: string;
}

/** Asks the API server who a bearer token belongs to. */
export interface TokenReviewer {
  /** Reviews `token` for `audiences`; rejects with KubeError when the API cannot be asked. */
  review(token: string, audiences: string[]): Promise<TokenReviewResult>;
}

/** A Secret with decoded data. */
export interface SecretRecord {
  namespace: string;
  name: string;
  /** Default Opaque. */
  type?: string;
  data: Record<string, Buffer>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by reads; an update with it fails with a Conflict when the Secret changed since. */
  resourceVersion?: string;
  uid?: string;
}

/** Secrets (the tunnel CA, agent bootstrap material). */
export interface SecretStore {
  /** The Secret, or undefined when it does not exist. */
  get(namespace: string, name: string): Promise<SecretRecord | undefined>;
  /** Creates it; KubeError reason AlreadyExists when it exists. */
  create(secret: SecretRecord): Promise<SecretRecord>;
  /** Replaces it; KubeError reason Conflict when `resourceVersion` is stale, NotFound when gone. */
  update(secret: SecretRecord): Promise<SecretRecord>;
  /** Deletes it (only at `resourceVersion` when given); false when it did not exist. */
  delete(namespace: string, name: string, opts?: { resourceVersion?: string }): Promise<boolean>;
}

/** A coordination.k8s.io/v1 Lease. */
export interface LeaseRecord {
  namespace: string;
  name: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by reads; an update with it fails with a Conflict when the Lease changed since. */
  resourceVersion?: string;
  uid?: string;
}

/** Leases (server replicas announce themselves; agents count them). */
export interface LeaseStore {
  /** The Lease, or undefined when it does not exist. */
  get(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  /** Leases of a namespace matching a label selector (e.g. `k8s-app=konnectivity-server`). */
  list(namespace: string, labelSelector?: string): Promise<LeaseRecord[]>;
  /** Creates it; KubeError reason AlreadyExists when it exists. */
  create(lease: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces it; KubeError reason Conflict when `resourceVersion` is stale. */
  update(lease: LeaseRecord): Promise<LeaseRecord>;
  /** Deletes it (only at `resourceVersion` when given); false when it did not exist. */
  delete(namespace: string, name: string, opts?: { resourceVersion?: string }): Promise<boolean>;
}
