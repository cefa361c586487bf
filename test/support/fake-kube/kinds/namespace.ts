/**
 * core/v1 Namespace: cluster-scoped, RFC 1123 label names, phase Active,
 * the `kubernetes.io/metadata.name` label the API server adds, and the
 * namespaces that may not be deleted. Deleting a namespace removes its
 * contents at once (a real cluster does it asynchronously through the
 * Terminating phase) and a new namespace gets its `default`
 * ServiceAccount, as the controllers of a real cluster do.
 */
import { forbidden } from '../status.js';
import type { KubeObject, ResourceKind } from '../types.js';

const IMMORTAL = new Set(['default', 'kube-system', 'kube-public']);
const NAME_LABEL = 'kubernetes.io/metadata.name';

function addNameLabel(obj: KubeObject): void {
  const meta = obj.metadata!;
  if (meta.name) meta.labels = { ...(meta.labels ?? {}), [NAME_LABEL]: meta.name };
}

/** The Namespace kind. */
export const namespaceKind: ResourceKind = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  namespaced: false,
  shortNames: ['ns'],
  nameRule: 'label',
  returnDeletedObject: true,
  selectableFields: { 'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase },
  prepareCreate(obj) {
    obj.spec = { finalizers: ['kubernetes'] };
    obj.status = { phase: 'Active' };
    addNameLabel(obj);
  },
  prepareUpdate(obj, old) {
    obj.spec = old.spec;
    obj.status = old.status;
    addNameLabel(obj);
  },
  beforeDelete(obj) {
    if (IMMORTAL.has(obj.metadata.name)) {
      throw forbidden({ plural: 'namespaces', group: '' }, obj.metadata.name, 'this namespace may not be deleted');
    }
  },
  afterCreate(obj, store) {
    if (store.kinds().some((k) => k.plural === 'serviceaccounts' && k.group === '')) {
      store.create('serviceaccounts', { metadata: { name: 'default', namespace: obj.metadata.name } });
    }
  },
  afterDelete(obj, store) {
    for (const kind of store.kinds()) {
      if (!kind.namespaced || kind.ephemeralCreate) continue;
      const resource = kind.group ? `${kind.plural}.${kind.group}` : kind.plural;
      for (const o of store.list(resource, { namespace: obj.metadata.name })) {
        store.delete(resource, o.metadata.namespace, o.metadata.name);
      }
    }
  },
};
