/**
 * CsrClient over @kubernetes/client-node's CertificatesV1Api, plus watches
 * through client-node's Watch (raw JSON events, converted the same way).
 */
import { CertificatesV1Api, Watch, type KubeConfig, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import { isNotFound, KubeError, toKubeError } from './errors.js';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';
import type { CsrClient, CsrCondition, CsrCreate, CsrRecord, CsrWatch, CsrWatchOptions } from './csr-types.js';

/** Options of createCsrClient. */
export interface CsrClientOptions {
  /** Deadline of one request (not of watches); default 10 s. */
  timeoutMs?: number;
}

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function toDate(v: unknown): Date | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function fromBase64(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

/** Converts a CSR (typed from an API call, or raw JSON from a watch) to a record. */
export function toCsrRecord(o: V1CertificateSigningRequest): CsrRecord {
  const meta = o.metadata ?? {};
  const spec = o.spec ?? ({} as NonNullable<V1CertificateSigningRequest['spec']>);
  const st = o.status ?? {};
  const r: CsrRecord = {
    name: meta.name ?? '',
    signerName: spec.signerName ?? '',
    request: fromBase64(spec.request) ?? '',
    usages: spec.usages ?? [],
    groups: spec.groups ?? [],
    conditions: (st.conditions ?? []).map((c) => {
      const out: CsrCondition = { type: c.type, status: c.status };
      if (c.reason) out.reason = c.reason;
      if (c.message) out.message = c.message;
      const u = toDate(c.lastUpdateTime);
      const t = toDate(c.lastTransitionTime);
      if (u) out.lastUpdateTime = u;
      if (t) out.lastTransitionTime = t;
      return out;
    }),
  };
  if (meta.uid) r.uid = meta.uid;
  if (meta.resourceVersion) r.resourceVersion = meta.resourceVersion;
  const created = toDate(meta.creationTimestamp);
  if (created) r.creationTimestamp = created;
  if (meta.labels) r.labels = meta.labels;
  if (meta.annotations) r.annotations = meta.annotations;
  if (spec.expirationSeconds !== undefined) r.expirationSeconds = spec.expirationSeconds;
  if (spec.username) r.username = spec.username;
  if (spec.uid) r.requesterUid = spec.uid;
  if (spec.extra) r.extra = spec.extra;
  const cert = fromBase64(st.certificate);
  if (cert) r.certificate = cert;
  return r;
}

function conditionJson(c: CsrCondition): Record<string, unknown> {
  return {
    type: c.type,
    status: c.status,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    ...(c.lastUpdateTime ? { lastUpdateTime: c.lastUpdateTime } : {}),
    ...(c.lastTransitionTime ? { lastTransitionTime: c.lastTransitionTime } : {}),
  };
}

/** The CSR body for a write through a subresource: what was read, with a new status. */
function withStatus(csr: CsrRecord, status: { conditions: CsrCondition[]; certificate?: string }): V1CertificateSigningRequest {
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name: csr.name, ...(csr.resourceVersion ? { resourceVersion: csr.resourceVersion } : {}) },
    spec: {
      signerName: csr.signerName,
      request: Buffer.from(csr.request).toString('base64'),
      usages: csr.usages as V1CertificateSigningRequest['spec']['usages'],
      ...(csr.expirationSeconds !== undefined ? { expirationSeconds: csr.expirationSeconds } : {}),
    },
    status: {
      conditions: status.conditions.map(conditionJson) as never,
      ...(status.certificate ? { certificate: Buffer.from(status.certificate).toString('base64') } : {}),
    },
  };
}

/** The CSR client of a cluster. */
export function createCsrClient(kc: KubeConfig, opts: CsrClientOptions = {}): CsrClient {
  const api = kc.makeApiClient(CertificatesV1Api);
  const o = (): ReturnType<typeof deadline> => deadline(opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const what = (verb: string, name: string): string => `${verb} CertificateSigningRequest ${name}`;
  return {
    async create(c: CsrCreate) {
      const body: V1CertificateSigningRequest = {
        apiVersion: 'certificates.k8s.io/v1',
        kind: 'CertificateSigningRequest',
        metadata: {
          ...(c.name ? { name: c.name } : {}),
          ...(c.generateName ? { generateName: c.generateName } : {}),
          ...(c.labels ? { labels: c.labels } : {}),
          ...(c.annotations ? { annotations: c.annotations } : {}),
        },
        spec: {
          signerName: c.signerName,
          request: Buffer.from(c.request).toString('base64'),
          usages: c.usages as V1CertificateSigningRequest['spec']['usages'],
          ...(c.expirationSeconds !== undefined ? { expirationSeconds: c.expirationSeconds } : {}),
        },
      };
      return toCsrRecord(await kubeCall(what('create', c.name ?? `${c.generateName ?? ''}*`), () => api.createCertificateSigningRequest({ body }, o())));
    },
    async get(name) {
      try {
        return toCsrRecord(await kubeCall(what('read', name), () => api.readCertificateSigningRequest({ name }, o())));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async list(l = {}) {
      const list = await kubeCall('list CertificateSigningRequests', () =>
        api.listCertificateSigningRequest({ ...(l.fieldSelector ? { fieldSelector: l.fieldSelector } : {}) }, o()),
      );
      return { items: list.items.map(toCsrRecord), resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    watch: (w) => watchCsrs(kc, w),
    async setApproval(csr, c) {
      const conditions = [...csr.conditions, { type: c.type, status: 'True', reason: c.reason, message: c.message }];
      return toCsrRecord(
        await kubeCall(what(c.type === 'Approved' ? 'approve' : 'deny', csr.name), () =>
          api.replaceCertificateSigningRequestApproval({ name: csr.name, body: withStatus(csr, { conditions }) }, o()),
        ),
      );
    },
    async setCertificate(csr, certificatePem) {
      return toCsrRecord(
        await kubeCall(what('write the certificate of', csr.name), () =>
          api.replaceCertificateSigningRequestStatus(
            { name: csr.name, body: withStatus(csr, { conditions: csr.conditions, certificate: certificatePem }) },
            o(),
          ),
        ),
      );
    },
    async setFailed(csr, reason, message) {
      const conditions = [...csr.conditions.filter((c) => c.type !== 'Failed'), { type: 'Failed', status: 'True', reason, message }];
      return toCsrRecord(
        await kubeCall(what('fail', csr.name), () =>
          api.replaceCertificateSigningRequestStatus(
            { name: csr.name, body: withStatus(csr, { conditions, ...(csr.certificate ? { certificate: csr.certificate } : {}) }) },
            o(),
          ),
        ),
      );
    },
    async delete(name) {
      try {
        await kubeCall(what('delete', name), () => api.deleteCertificateSigningRequest({ name }, o()));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}

async function watchCsrs(kc: KubeConfig, w: CsrWatchOptions): Promise<CsrWatch> {
  let ended = false;
  let stopped = false;
  const end = (err?: Error): void => {
    if (ended) return;
    ended = true;
    w.onEnd(stopped ? undefined : err);
  };
  const query: Record<string, string | number | boolean | undefined> = {
    allowWatchBookmarks: false,
    ...(w.resourceVersion ? { resourceVersion: w.resourceVersion } : {}),
    ...(w.fieldSelector ? { fieldSelector: w.fieldSelector } : {}),
    ...(w.timeoutSeconds ? { timeoutSeconds: w.timeoutSeconds } : {}),
  };
  let controller: AbortController | undefined;
  try {
    controller = await new Watch(kc).watch(
      CSR_PATH,
      query,
      (type: string, obj: unknown) => {
        if (ended) return;
        if (type === 'ERROR') {
          const s = obj as { code?: number; reason?: string; message?: string };
          end(new KubeError('ERR_KUBE_API', `watch CertificateSigningRequests: ${s.message ?? 'error event'}`, {
            status: s.code ?? 0,
            reason: s.reason ?? 'Unknown',
          }));
          controller?.abort();
          return;
        }
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
          w.onEvent({ type, csr: toCsrRecord(obj as V1CertificateSigningRequest) });
        }
      },
      (err: unknown) => end(err ? watchError(err) : undefined),
    );
  } catch (err) {
    end(watchError(err));
  }
  if (stopped) controller?.abort();
  return {
    stop() {
      stopped = true;
      controller?.abort();
      end();
    },
  };
}

function watchError(err: unknown): KubeError {
  const code = (err as { statusCode?: number }).statusCode;
  if (code) return new KubeError('ERR_KUBE_API', `watch CertificateSigningRequests: HTTP ${code}`, { status: code });
  return toKubeError(err, 'watch CertificateSigningRequests');
}
