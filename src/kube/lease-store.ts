/**
 * LeaseStore over coordination.k8s.io/v1 Leases. Times are sent as
 * MicroTime (six fraction digits, what the API stores) and read back as
 * Dates (client-node hands MicroTime fields over as strings).
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { isNotFound } from './errors.js';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';
import type { LeaseRecord, LeaseStore } from './types.js';

/** Options of createLeaseStore. */
export interface LeaseStoreOptions {
  /** Deadline of one request; default 10 s. */
  timeoutMs?: number;
}

function toDate(v: unknown): Date | undefined {
  if (v === undefined || v === null) return undefined;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function toRecord(l: V1Lease): LeaseRecord {
  const meta = l.metadata ?? {};
  const spec = l.spec ?? {};
  const r: LeaseRecord = { namespace: meta.namespace ?? '', name: meta.name ?? '' };
  if (spec.holderIdentity) r.holderIdentity = spec.holderIdentity;
  if (spec.leaseDurationSeconds !== undefined) r.leaseDurationSeconds = spec.leaseDurationSeconds;
  const acquire = toDate(spec.acquireTime);
  const renew = toDate(spec.renewTime);
  if (acquire) r.acquireTime = acquire;
  if (renew) r.renewTime = renew;
  if (spec.leaseTransitions !== undefined) r.leaseTransitions = spec.leaseTransitions;
  if (meta.labels) r.labels = meta.labels;
  if (meta.annotations) r.annotations = meta.annotations;
  if (meta.resourceVersion) r.resourceVersion = meta.resourceVersion;
  if (meta.uid) r.uid = meta.uid;
  return r;
}

function toLease(r: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: r.name,
      namespace: r.namespace,
      ...(r.labels ? { labels: r.labels } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
      ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}),
    },
    spec: {
      ...(r.holderIdentity !== undefined ? { holderIdentity: r.holderIdentity } : {}),
      ...(r.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: r.leaseDurationSeconds } : {}),
      ...(r.acquireTime ? { acquireTime: new V1MicroTime(r.acquireTime.getTime()) } : {}),
      ...(r.renewTime ? { renewTime: new V1MicroTime(r.renewTime.getTime()) } : {}),
      ...(r.leaseTransitions !== undefined ? { leaseTransitions: r.leaseTransitions } : {}),
    },
  };
}

/** The Lease store of a cluster. */
export function createLeaseStore(kc: KubeConfig, opts: LeaseStoreOptions = {}): LeaseStore {
  const api = kc.makeApiClient(CoordinationV1Api);
  const o = (): ReturnType<typeof deadline> => deadline(opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const what = (verb: string, ns: string, name: string): string => `${verb} Lease ${ns}/${name}`;
  return {
    async get(namespace, name) {
      try {
        return toRecord(await kubeCall(what('read', namespace, name), () => api.readNamespacedLease({ name, namespace }, o())));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async list(namespace, labelSelector) {
      const list = await kubeCall(`list Leases in ${namespace}`, () =>
        api.listNamespacedLease({ namespace, ...(labelSelector ? { labelSelector } : {}) }, o()),
      );
      return list.items.map(toRecord);
    },
    async create(lease) {
      const { resourceVersion: _rv, ...fresh } = lease;
      return toRecord(
        await kubeCall(what('create', lease.namespace, lease.name), () =>
          api.createNamespacedLease({ namespace: lease.namespace, body: toLease(fresh) }, o()),
        ),
      );
    },
    async update(lease) {
      return toRecord(
        await kubeCall(what('update', lease.namespace, lease.name), () =>
          api.replaceNamespacedLease({ name: lease.name, namespace: lease.namespace, body: toLease(lease) }, o()),
        ),
      );
    },
    async delete(namespace, name, d = {}) {
      try {
        await kubeCall(what('delete', namespace, name), () =>
          api.deleteNamespacedLease(
            { name, namespace, ...(d.resourceVersion ? { body: { preconditions: { resourceVersion: d.resourceVersion } } } : {}) },
            o(),
          ),
        );
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}
