/**
 * A watch on one Secret (`fieldSelector=metadata.name=NAME`, which RBAC
 * authorizes against a rule's resourceNames): events with the decoded
 * Secret, then one end callback: null when the server closed the stream
 * (e.g. its timeout), else a KubeError (410 Expired when the
 * resourceVersion is too old: read again and re-watch).
 */
import { Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { KubeError } from './errors.js';
import type { SecretRecord } from './types.js';

/** Kinds of watch events passed on. */
export type SecretWatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Callbacks of watchSecret. */
export interface SecretWatchHandlers {
  /** A change of the Secret (DELETED carries its last state). */
  onEvent(type: SecretWatchEventType, secret: SecretRecord): void;
  /** Called once when the watch ends by itself; never after stop(). */
  onEnd(err: KubeError | null): void;
}

/** Options of watchSecret. */
export interface SecretWatchOptions {
  /** Start after this version (from a read); unset: the current state comes first as ADDED. */
  resourceVersion?: string;
  /** Ask the server to end the stream after this long. */
  timeoutSeconds?: number;
}

/** An open watch. */
export interface SecretWatch {
  /** Ends the stream; no callback follows. */
  stop(): void;
}

function toRecord(s: V1Secret): SecretRecord {
  const meta = s.metadata ?? {};
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64');
  const r: SecretRecord = { namespace: meta.namespace ?? '', name: meta.name ?? '', data };
  if (s.type) r.type = s.type;
  if (meta.resourceVersion) r.resourceVersion = meta.resourceVersion;
  if (meta.uid) r.uid = meta.uid;
  return r;
}

/** Opens a watch on Secret `namespace/name`. */
export async function watchSecret(
  kc: KubeConfig,
  namespace: string,
  name: string,
  opts: SecretWatchOptions,
  handlers: SecretWatchHandlers,
): Promise<SecretWatch> {
  const what = `watch Secret ${namespace}/${name}`;
  let stopped = false;
  let ended = false;
  const end = (err: KubeError | null): void => {
    if (stopped || ended) return;
    ended = true;
    handlers.onEnd(err);
  };
  const query: Record<string, string | number | boolean> = {
    fieldSelector: `metadata.name=${name}`,
    allowWatchBookmarks: false,
  };
  if (opts.resourceVersion) query.resourceVersion = opts.resourceVersion;
  if (opts.timeoutSeconds) query.timeoutSeconds = opts.timeoutSeconds;
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
    query,
    (type: string, obj: unknown) => {
      if (stopped || ended) return;
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
        handlers.onEvent(type, toRecord(obj as V1Secret));
      } else if (type === 'ERROR') {
        const st = (obj ?? {}) as { code?: number; reason?: string; message?: string };
        end(new KubeError('ERR_KUBE_API', `${what}: ${st.message ?? 'error event'}`, { status: st.code ?? 0, reason: st.reason ?? 'Unknown' }));
      }
    },
    (err: unknown) => {
      if (!err) return end(null);
      const e = err as { statusCode?: number; message?: string; name?: string; code?: string };
      if (e.statusCode) {
        return end(new KubeError('ERR_KUBE_API', `${what}: ${e.message ?? `HTTP ${e.statusCode}`}`, { status: e.statusCode, cause: err }));
      }
      const detail = e.code ? `${e.code}: ${e.message ?? ''}` : (e.message ?? String(err));
      return end(new KubeError('ERR_KUBE_UNREACHABLE', `${what}: cannot reach the Kubernetes API (${detail})`, { cause: err }));
    },
  );
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      controller.abort();
    },
  };
}
