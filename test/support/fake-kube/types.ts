/**
 * Shapes shared by the fake Kubernetes API: objects as plain JSON, the
 * requesting user, and the resource-kind table entries that drive the
 * generic engine (see README.md in this folder for adding a kind).
 */
import type { TokenAuthority } from './tokens.js';

/** Object metadata as the API serves it (only the fields the engine reads or sets are typed). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Any API object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** An object as kept in the store: server-set metadata always present. */
export interface StoredObject extends KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & { name: string; uid: string; resourceVersion: string; creationTimestamp: string };
}

/** The authenticated user of a request (what TokenReview reports). */
export interface UserInfo {
  name: string;
  uid: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** The verbs the engine knows, named as RBAC names them. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** One failed field check, reported in a 422 Invalid Status (details.causes). */
export interface Cause {
  /** JSON path of the field, e.g. `metadata.name` or `data[bad key]`. */
  field: string;
  /** Cause reason: FieldValueInvalid, FieldValueRequired, FieldValueForbidden, FieldValueTooLong, FieldValueNotSupported. */
  reason: string;
  /** The text after the field name, e.g. `Invalid value: "x": must be ...`. */
  message: string;
}

/** What a kind's hooks may use besides the object: who asks, when, and the fake's services. */
export interface WriteContext {
  user: UserInfo;
  now: Date;
  tokens: TokenAuthority;
  /** Reads the current stored object of any kind (plural, optionally `plural.group`), for cross-object checks. */
  lookup(resource: string, namespace: string | undefined, name: string): StoredObject | undefined;
}

/**
 * A subresource whose writes replace part of the parent object, like
 * `/status` or CSR `/approval`. GET returns the parent; PUT takes a full
 * object and PATCH patches the parent; `apply` decides what is kept.
 * resourceVersion preconditions, no-op detection and MODIFIED events are the
 * engine's.
 */
export interface UpdateSubresource {
  type: 'update';
  /** Builds the object to store from the request's object and the current one (e.g. take only `.status`). */
  apply(incoming: KubeObject, current: StoredObject, ctx: WriteContext): KubeObject;
  /** Extra field checks on the result; failures give 422 Invalid. */
  validate?(obj: KubeObject, old: StoredObject, ctx: WriteContext): Cause[];
}

/**
 * A subresource that only answers POST with a computed object, like
 * `serviceaccounts/{name}/token`. The parent must exist (else 404).
 */
export interface CreateSubresource {
  type: 'create';
  /** Kind and apiVersion of the request and response bodies, e.g. TokenRequest. */
  kind: string;
  apiVersion: string;
  /** Answers the request; throw a StatusError to refuse. */
  create(body: KubeObject, parent: StoredObject, ctx: WriteContext): KubeObject;
}

/** Any subresource. */
export type Subresource = UpdateSubresource | CreateSubresource;

/**
 * One entry of the resource table. Everything not given falls back to the
 * generic behaviour of the real API server's registry.
 */
export interface ResourceKind {
  /** API group, '' for core. */
  group: string;
  version: string;
  /** Resource name in URLs, e.g. `secrets`. */
  plural: string;
  singular: string;
  kind: string;
  /** Kind of list responses; default `<kind>List`. */
  listKind?: string;
  namespaced: boolean;
  /** Verbs served; default all of get, list, watch, create, update, patch, delete. */
  verbs?: Verb[];
  shortNames?: string[];
  /** Name rule: RFC 1123 subdomain (default, most kinds) or label (Namespace). */
  nameRule?: 'subdomain' | 'label';
  /** Fills defaults and server-set fields before create validation (e.g. Secret stringData into data, Namespace phase). */
  prepareCreate?(obj: KubeObject, ctx: WriteContext): void;
  /** Before update validation: restore fields this endpoint may not change (e.g. status when a status subresource exists). */
  prepareUpdate?(obj: KubeObject, old: StoredObject, ctx: WriteContext): void;
  /** Kind-specific field checks for create (old undefined) and update; failures give 422 Invalid. */
  validate?(obj: KubeObject, old: StoredObject | undefined, ctx: WriteContext): Cause[];
  /** For kinds that are computed, never stored (TokenReview): the create response. */
  ephemeralCreate?(obj: KubeObject, ctx: WriteContext): KubeObject;
  /** Subresources by name (`status`, `approval`, `token`). */
  subresources?: Record<string, Subresource>;
  /** DELETE answers with the deleted object instead of a Success Status (Namespace does). */
  returnDeletedObject?: boolean;
  /** Field selectors besides metadata.name and metadata.namespace, e.g. Secret `type`. */
  selectableFields?: Record<string, (obj: StoredObject) => string | undefined>;
  /** Refuses a delete by throwing a StatusError (e.g. the `default` Namespace may not be deleted). */
  beforeDelete?(obj: StoredObject, ctx: WriteContext): void;
  /** Runs after an object was created (e.g. a new Namespace gets its `default` ServiceAccount). */
  afterCreate?(obj: StoredObject, store: KindHookStore): void;
  /** Runs after an object was deleted (e.g. a Namespace takes its contents with it). */
  afterDelete?(obj: StoredObject, store: KindHookStore): void;
}

/** The store operations that kind hooks may call (no authorization, same semantics as the API). */
export interface KindHookStore {
  create(resource: string, obj: KubeObject): StoredObject;
  list(resource: string, opts?: { namespace?: string }): StoredObject[];
  delete(resource: string, namespace: string | undefined, name: string): StoredObject;
  kinds(): ResourceKind[];
}

/** The resource part of a kind as it appears in paths and RBAC: `secrets` or `leases.coordination.k8s.io`. */
export function qualifiedResource(kind: Pick<ResourceKind, 'plural' | 'group'>): string {
  return kind.group ? `${kind.plural}.${kind.group}` : kind.plural;
}

/** `v1` or `coordination.k8s.io/v1`. */
export function apiVersionOf(kind: Pick<ResourceKind, 'group' | 'version'>): string {
  return kind.group ? `${kind.group}/${kind.version}` : kind.version;
}
