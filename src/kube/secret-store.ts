/** SecretStore over core/v1 Secrets; data is decoded to Buffers on read and encoded on write. */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { isNotFound } from './errors.js';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';
import type { SecretRecord, SecretStore } from './types.js';

/** Options of createSecretStore. */
export interface SecretStoreOptions {
  /** Deadline of one request; default 10 s. */
  timeoutMs?: number;
}

function toRecord(s: V1Secret): SecretRecord {
  const meta = s.metadata ?? {};
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64');
  const r: SecretRecord = { namespace: meta.namespace ?? '', name: meta.name ?? '', data };
  if (s.type) r.type = s.type;
  if (meta.labels) r.labels = meta.labels;
  if (meta.annotations) r.annotations = meta.annotations;
  if (meta.resourceVersion) r.resourceVersion = meta.resourceVersion;
  if (meta.uid) r.uid = meta.uid;
  return r;
}

function toSecret(r: SecretRecord): V1Secret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.data)) data[k] = Buffer.from(v).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: r.name,
      namespace: r.namespace,
      ...(r.labels ? { labels: r.labels } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
      ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}),
    },
    type: r.type ?? 'Opaque',
    data,
  };
}

/** The Secret store of a cluster. */
export function createSecretStore(kc: KubeConfig, opts: SecretStoreOptions = {}): SecretStore {
  const api = kc.makeApiClient(CoreV1Api);
  const o = (): ReturnType<typeof deadline> => deadline(opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const what = (verb: string, ns: string, name: string): string => `${verb} Secret ${ns}/${name}`;
  return {
    async get(namespace, name) {
      try {
        return toRecord(await kubeCall(what('read', namespace, name), () => api.readNamespacedSecret({ name, namespace }, o())));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(secret) {
      const { resourceVersion: _rv, ...fresh } = secret;
      return toRecord(
        await kubeCall(what('create', secret.namespace, secret.name), () =>
          api.createNamespacedSecret({ namespace: secret.namespace, body: toSecret(fresh) }, o()),
        ),
      );
    },
    async update(secret) {
      return toRecord(
        await kubeCall(what('update', secret.namespace, secret.name), () =>
          api.replaceNamespacedSecret({ name: secret.name, namespace: secret.namespace, body: toSecret(secret) }, o()),
        ),
      );
    },
    async delete(namespace, name, d = {}) {
      try {
        await kubeCall(what('delete', namespace, name), () =>
          api.deleteNamespacedSecret(
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
