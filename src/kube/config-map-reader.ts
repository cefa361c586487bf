/** Reads single ConfigMaps (e.g. the cluster CA bundle in `kube-root-ca.crt`); `get` on one name is all it needs. */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from './errors.js';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';

/** Options of createConfigMapReader. */
export interface ConfigMapReaderOptions {
  /** Deadline of one request; default 10 s. */
  timeoutMs?: number;
}

/** A ConfigMap's string data. */
export interface ConfigMapRecord {
  namespace: string;
  name: string;
  data: Record<string, string>;
  resourceVersion?: string;
}

/** Reads ConfigMaps. */
export interface ConfigMapReader {
  /** The ConfigMap, or undefined when it does not exist; other failures reject with KubeError. */
  get(namespace: string, name: string): Promise<ConfigMapRecord | undefined>;
}

/** The ConfigMapReader of a cluster. */
export function createConfigMapReader(kc: KubeConfig, opts: ConfigMapReaderOptions = {}): ConfigMapReader {
  const api = kc.makeApiClient(CoreV1Api);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    async get(namespace, name) {
      try {
        const cm = await kubeCall(`read ConfigMap ${namespace}/${name}`, () =>
          api.readNamespacedConfigMap({ name, namespace }, deadline(timeoutMs)),
        );
        const r: ConfigMapRecord = { namespace, name, data: cm.data ?? {} };
        if (cm.metadata?.resourceVersion) r.resourceVersion = cm.metadata.resourceVersion;
        return r;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
}
