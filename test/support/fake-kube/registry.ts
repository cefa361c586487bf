/**
 * The API semantics over the raw storage, for every kind in the resource
 * table: server-set metadata, validation (422), existence (404/409),
 * optimistic concurrency (409 Conflict on a stale resourceVersion), no-op
 * updates, patches, delete preconditions, subresources, selectors, paging
 * and watches. Tests reach it as `fake.store` to seed and inspect objects;
 * the HTTP layer calls the same methods, so both see one behaviour.
 */
import { randomUUID } from 'node:crypto';
import { decodeContinue, encodeContinue } from './paging.js';
import { applyPatch } from './patch.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  internalError,
  invalid,
  notFound,
  OBJECT_MODIFIED,
  StatusError,
} from './status.js';
import type { EventType, Storage, StorageEvent } from './storage.js';
import type { TokenAuthority } from './tokens.js';
import {
  apiVersionOf,
  qualifiedResource,
  type Cause,
  type KindHookStore,
  type KubeObject,
  type ResourceKind,
  type StoredObject,
  type UserInfo,
  type WriteContext,
} from './types.js';
import { checkSubresourceTypeMeta, checkTypeMeta } from './type-meta.js';
import { deepEqual, randomSuffix, rfc3339 } from './util.js';
import { checkObjectMeta } from './validation.js';

/** The user of writes made directly through `fake.store` (not over HTTP). */
export const STORE_USER: UserInfo = { name: 'system:admin', uid: '', groups: ['system:masters', 'system:authenticated'] };

/** Options of a write. */
export interface WriteOptions {
  /** The requesting user (default: system:admin). */
  user?: UserInfo;
  /** Namespace from the URL; must match the object's when both are set. */
  namespace?: string;
  /** Name from the URL (update/patch); must match the object's. */
  name?: string;
  /** Validate and answer, but store nothing (`?dryRun=All`). */
  dryRun?: boolean;
  /** Write through this subresource (e.g. `status`). */
  subresource?: string;
}

/** Options of a list or watch. */
export interface ListOptions {
  /** Only this namespace; all when unset. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size (list only). */
  limit?: number;
  /** Token from a previous page (list only). */
  continue?: string;
  /** Watch only: start after this resourceVersion; unset or '0' = send the current state as ADDED first. */
  resourceVersion?: string;
}

/** A list answer. */
export interface ListResult {
  items: StoredObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** Preconditions of a delete. */
export interface DeleteOptions {
  user?: UserInfo;
  dryRun?: boolean;
  preconditions?: { resourceVersion?: string; uid?: string };
}

/** Callback of a watch: one event, or an ERROR Status after which the watch is over. */
export type WatchSink = (type: EventType | 'ERROR', object: StoredObject | ReturnType<StatusError['toJSON']>) => void;

/** All kinds and objects of one fake API. */
export class Registry implements KindHookStore {
  private readonly table: ResourceKind[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly tokens: TokenAuthority,
    private readonly now: () => Date,
    kinds: ResourceKind[],
  ) {
    for (const k of kinds) this.register(k);
  }

  /** Adds a kind to the table (see README.md). Throws if its group/plural is taken. */
  register(kind: ResourceKind): void {
    if (this.table.some((k) => k.plural === kind.plural && k.group === kind.group)) {
      throw new Error(`fake-kube: ${qualifiedResource(kind)} is already registered`);
    }
    this.table.push(kind);
  }

  /** Every registered kind. */
  kinds(): ResourceKind[] {
    return [...this.table];
  }

  /** The kind of `plural` or `plural.group`; throws for an unknown resource (a test bug). */
  kind(resource: string): ResourceKind {
    const exact = this.table.find((k) => qualifiedResource(k) === resource);
    if (exact) return exact;
    const byPlural = this.table.filter((k) => k.plural === resource);
    if (byPlural.length > 1) throw new Error(`fake-kube: "${resource}" is ambiguous; use plural.group`);
    if (byPlural.length === 0) throw new Error(`fake-kube: unknown resource "${resource}"`);
    return byPlural[0]!;
  }

  /** The kind served at /api(s)/{group}/{version}/{plural}, if any. */
  kindAt(group: string, version: string, plural: string): ResourceKind | undefined {
    return this.table.find((k) => k.group === group && k.version === version && k.plural === plural);
  }

  /** The latest resourceVersion. */
  resourceVersion(): string {
    return String(this.storage.currentRv());
  }

  /** Forgets the watch history (watches from older resourceVersions then get 410 Expired). */
  compact(): void {
    this.storage.compact();
  }

  /** A copy of the stored object, or undefined. */
  get(resource: string, namespace: string | undefined, name: string): StoredObject | undefined {
    const kind = this.kind(resource);
    const o = this.storage.get(qualifiedResource(kind), kind.namespaced ? namespace : undefined, name);
    return o ? structuredClone(o) : undefined;
  }

  /** A copy of the stored object; 404 NotFound StatusError when missing. */
  mustGet(resource: string, namespace: string | undefined, name: string): StoredObject {
    const o = this.get(resource, namespace, name);
    if (!o) throw notFound(this.kind(resource), name);
    return o;
  }

  /** Matching objects (copies), sorted by namespace/name. */
  list(resource: string, opts: ListOptions = {}): StoredObject[] {
    return this.listPage(resource, { ...opts, limit: undefined, continue: undefined }).items;
  }

  /** A list answer with its resourceVersion and paging token. */
  listPage(resource: string, opts: ListOptions = {}): ListResult {
    const kind = this.kind(resource);
    const match = this.matcher(kind, opts);
    let all = this.storage.all(qualifiedResource(kind)).filter(match);
    const rv = this.resourceVersion();
    if (opts.continue) {
      const start = decodeContinue(opts.continue);
      if (start.rv < this.storage.oldestRv()) {
        throw new StatusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
      all = all.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > start.after);
    }
    const out: ListResult = { items: all.map((o) => structuredClone(o)), resourceVersion: rv };
    if (opts.limit && opts.limit > 0 && all.length > opts.limit) {
      out.items = out.items.slice(0, opts.limit);
      const last = out.items[out.items.length - 1]!;
      out.continue = encodeContinue(Number(rv), `${last.metadata.namespace ?? ''}/${last.metadata.name}`);
      out.remainingItemCount = all.length - opts.limit;
    }
    return out;
  }

  /** Creates an object with the API's rules; returns the stored copy (or the computed answer of ephemeral kinds). */
  create(resource: string, body: KubeObject, opts: WriteOptions = {}): StoredObject {
    const kind = this.kind(resource);
    const ctx = this.context(opts.user);
    const obj = checkTypeMeta(body, kind);
    if (kind.ephemeralCreate) return kind.ephemeralCreate(obj, ctx) as StoredObject;
    const meta = (obj.metadata ??= {});
    this.resolveNamespace(kind, obj, opts.namespace);
    if (meta.resourceVersion) throw internalError('resourceVersion should not be set on objects to be created');
    if (!meta.name && meta.generateName) meta.name = meta.generateName.slice(0, 58) + randomSuffix();
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(ctx.now);
    kind.prepareCreate?.(obj, ctx);
    const causes = [...checkObjectMeta(obj, kind), ...(kind.validate?.(obj, undefined, ctx) ?? [])];
    if (kind.namespaced && meta.namespace && !this.storage.get('namespaces', undefined, meta.namespace)) {
      throw notFound({ plural: 'namespaces', group: '' }, meta.namespace);
    }
    if (causes.length > 0) throw invalid(kind, meta.name ?? '', causes);
    const name = meta.name!;
    if (this.storage.get(qualifiedResource(kind), meta.namespace, name)) throw alreadyExists(kind, name);
    if (opts.dryRun) return structuredClone(obj) as StoredObject;
    const stored = this.storage.commit('ADDED', qualifiedResource(kind), obj as StoredObject);
    kind.afterCreate?.(stored, this);
    return structuredClone(stored);
  }

  /**
   * Replaces an object (PUT). A set metadata.resourceVersion must be the
   * stored one (else 409 Conflict); an unset one updates unconditionally.
   * A write that changes nothing keeps the resourceVersion and sends no event.
   */
  update(resource: string, body: KubeObject, opts: WriteOptions = {}): StoredObject {
    const kind = this.kind(resource);
    const ctx = this.context(opts.user);
    const obj = checkTypeMeta(body, kind);
    const meta = (obj.metadata ??= {});
    if (opts.name !== undefined && meta.name !== opts.name) {
      throw badRequest(`the name of the object (${meta.name ?? ''}) does not match the name on the URL (${opts.name})`);
    }
    this.resolveNamespace(kind, obj, opts.namespace);
    const name = meta.name ?? '';
    if (!name) throw invalid(kind, '', checkObjectMeta(obj, kind));
    const old = this.storage.get(qualifiedResource(kind), meta.namespace, name);
    if (!old) throw notFound(kind, name);
    if (meta.resourceVersion && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(kind, name, OBJECT_MODIFIED);
    }
    if (meta.uid && meta.uid !== old.metadata.uid) {
      throw conflict(kind, name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    const oldCopy = structuredClone(old);
    let next: KubeObject;
    const causes: Cause[] = [];
    if (opts.subresource) {
      const sub = kind.subresources?.[opts.subresource];
      if (!sub || sub.type !== 'update') throw notFound(kind, name);
      next = structuredClone(sub.apply(obj, oldCopy, ctx));
      causes.push(...(sub.validate?.(next, oldCopy, ctx) ?? []));
    } else {
      next = obj;
      kind.prepareUpdate?.(next, oldCopy, ctx);
    }
    const nm = (next.metadata ??= {});
    nm.name = name;
    nm.uid = old.metadata.uid;
    nm.creationTimestamp = old.metadata.creationTimestamp;
    nm.resourceVersion = old.metadata.resourceVersion;
    if (kind.namespaced) nm.namespace = old.metadata.namespace;
    next.apiVersion = apiVersionOf(kind);
    next.kind = kind.kind;
    causes.push(...checkObjectMeta(next, kind), ...(kind.validate?.(next, oldCopy, ctx) ?? []));
    if (causes.length > 0) throw invalid(kind, name, causes);
    if (deepEqual(next, old)) return oldCopy;
    if (opts.dryRun) return structuredClone(next) as StoredObject;
    return structuredClone(this.storage.commit('MODIFIED', qualifiedResource(kind), next as StoredObject, old));
  }

  /** Patches an object (or a subresource) with a JSON, merge or strategic merge patch, then updates it. */
  patch(
    resource: string,
    namespace: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    opts: WriteOptions = {},
  ): StoredObject {
    const kind = this.kind(resource);
    const current = this.mustGet(resource, namespace, name);
    if (opts.subresource && kind.subresources?.[opts.subresource]?.type !== 'update') throw notFound(kind, name);
    const patched = applyPatch(contentType, current, patch);
    if (patched === null || typeof patched !== 'object' || Array.isArray(patched)) {
      throw badRequest('the patch did not produce an object');
    }
    return this.update(resource, patched as KubeObject, { ...opts, namespace, name });
  }

  /** Deletes an object; returns it as it was, with the delete's resourceVersion. */
  delete(resource: string, namespace: string | undefined, name: string, opts: DeleteOptions = {}): StoredObject {
    const kind = this.kind(resource);
    const ctx = this.context(opts.user);
    const old = this.storage.get(qualifiedResource(kind), kind.namespaced ? namespace : undefined, name);
    if (!old) throw notFound(kind, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw conflict(kind, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        kind,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    kind.beforeDelete?.(structuredClone(old), ctx);
    if (opts.dryRun) return structuredClone(old);
    const gone = this.storage.commit('DELETED', qualifiedResource(kind), old, old);
    kind.afterDelete?.(gone, this);
    return structuredClone(gone);
  }

  /** Answers a POST to a create-type subresource (e.g. serviceaccounts/{name}/token). */
  createSubresource(
    resource: string,
    namespace: string | undefined,
    name: string,
    subresource: string,
    body: KubeObject,
    opts: WriteOptions = {},
  ): KubeObject {
    const kind = this.kind(resource);
    const sub = kind.subresources?.[subresource];
    if (!sub || sub.type !== 'create') throw notFound(kind, name);
    const parent = this.mustGet(resource, namespace, name);
    return sub.create(checkSubresourceTypeMeta(body, sub), parent, this.context(opts.user));
  }

  /**
   * Starts a watch. Selectors are checked first (400); then, with no or a
   * '0' resourceVersion, the current matching objects arrive as ADDED;
   * with a given one, the kept events after it (or one ERROR 410 Expired
   * when they are gone). Returns the function that stops it.
   */
  watch(resource: string, opts: ListOptions, sink: WatchSink): () => void {
    const kind = this.kind(resource);
    const match = this.matcher(kind, opts);
    const qr = qualifiedResource(kind);
    const deliver = (e: StorageEvent): void => {
      if (e.resource !== qr) return;
      const now = match(e.object);
      const before = e.prev !== undefined && e.type !== 'ADDED' && match(e.prev);
      if (e.type === 'ADDED') {
        if (now) sink('ADDED', e.object);
      } else if (e.type === 'DELETED') {
        if (before || now) sink('DELETED', e.object);
      } else if (now && before) sink('MODIFIED', e.object);
      else if (now) sink('ADDED', e.object);
      else if (before) sink('DELETED', e.object);
    };
    const rv = opts.resourceVersion;
    if (!rv || rv === '0') {
      for (const o of this.storage.all(qr).filter(match)) sink('ADDED', o);
    } else {
      if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
      const past = this.storage.eventsSince(Number(rv));
      if (past === 'expired') {
        sink('ERROR', expired(rv, String(this.storage.oldestRv() + 1)).toJSON());
        return () => undefined;
      }
      past.forEach(deliver);
    }
    return this.storage.subscribe(deliver);
  }

  private matcher(kind: ResourceKind, opts: ListOptions): (o: StoredObject) => boolean {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, kind.selectableFields);
    const ns = kind.namespaced ? opts.namespace : undefined;
    return (o) => (ns === undefined || o.metadata.namespace === ns) && labels.matches(o.metadata.labels) && fields.matches(o);
  }

  private resolveNamespace(kind: ResourceKind, obj: KubeObject, urlNamespace: string | undefined): void {
    const meta = obj.metadata!;
    if (!kind.namespaced) return;
    if (urlNamespace !== undefined && meta.namespace && meta.namespace !== urlNamespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta.namespace = meta.namespace || urlNamespace || '';
    if (!meta.namespace) throw badRequest(`${kind.kind} is namespaced: the object needs metadata.namespace`);
  }

  private context(user: UserInfo | undefined): WriteContext {
    return {
      user: user ?? STORE_USER,
      now: this.now(),
      tokens: this.tokens,
      lookup: (resource, namespace, name) => this.get(resource, namespace, name),
    };
  }
}
