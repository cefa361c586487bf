/**
 * certificates.k8s.io/v1 CertificateSigningRequest: cluster-scoped, with
 * the API's validation (csr-validation.ts), the requester recorded from the
 * authenticated user (spec.username/uid/groups/extra, never from the body),
 * an immutable spec, and two update subresources:
 * - `/approval` writes status.conditions (Approved / Denied) and nothing else;
 * - `/status` writes status.certificate and the other conditions (Failed),
 *   and cannot touch Approved / Denied.
 * New conditions get lastUpdateTime and lastTransitionTime when missing.
 * Field selector `spec.signerName` as on a real server.
 */
import type { KubeObject, ResourceKind, StoredObject } from '../types.js';
import { rfc3339 } from '../util.js';
import { badRequest } from '../status.js';
import { conditionsOf, validateCertificate, validateConditions, validateSpec, type CsrConditionJson } from './csr-validation.js';

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const APPROVAL = new Set(['Approved', 'Denied']);

/** A `[]byte` field that is not base64 fails JSON decoding: 400, as on a real server. */
function checkBytes(v: unknown, field: string): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !BASE64_RE.test(v)) {
    throw badRequest(`CertificateSigningRequest in version "v1" cannot be handled as a CertificateSigningRequest: illegal base64 data in ${field}`);
  }
}

function withTimes(conds: CsrConditionJson[], old: CsrConditionJson[], now: Date): CsrConditionJson[] {
  return conds.map((c) => {
    const prev = old.find((o) => o.type === c.type);
    const out = { ...c };
    if (!out.lastUpdateTime) out.lastUpdateTime = rfc3339(now);
    if (!out.lastTransitionTime) out.lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now);
    return out;
  });
}

function status(obj: KubeObject): Record<string, unknown> {
  return (obj.status ?? {}) as Record<string, unknown>;
}

/** The CertificateSigningRequest kind. */
export const csrKind: ResourceKind = {
  group: 'certificates.k8s.io',
  version: 'v1',
  plural: 'certificatesigningrequests',
  singular: 'certificatesigningrequest',
  kind: 'CertificateSigningRequest',
  namespaced: false,
  shortNames: ['csr'],
  selectableFields: { 'spec.signerName': (o) => (o.spec as { signerName?: string } | undefined)?.signerName },
  prepareCreate(obj, ctx) {
    const spec = { ...((obj.spec ?? {}) as Record<string, unknown>) };
    checkBytes(spec.request, 'spec.request');
    delete spec.username;
    delete spec.uid;
    delete spec.groups;
    delete spec.extra;
    spec.username = ctx.user.name;
    if (ctx.user.uid) spec.uid = ctx.user.uid;
    spec.groups = [...ctx.user.groups];
    if (ctx.user.extra) spec.extra = ctx.user.extra;
    obj.spec = spec;
    delete obj.status;
  },
  prepareUpdate(obj, old) {
    obj.spec = old.spec;
    obj.status = old.status;
  },
  validate(obj, old) {
    return [...(old ? [] : validateSpec(obj)), ...validateConditions(obj, old), ...validateCertificate(obj, old)];
  },
  subresources: {
    approval: {
      type: 'update',
      apply: (incoming: KubeObject, current: StoredObject, ctx) => {
        const next = structuredClone(current) as KubeObject;
        const conds = conditionsOf(incoming);
        next.status = { ...status(current), conditions: withTimes(conds, conditionsOf(current), ctx.now) };
        if (conds.length === 0) delete (next.status as Record<string, unknown>).conditions;
        return next;
      },
    },
    status: {
      type: 'update',
      apply: (incoming: KubeObject, current: StoredObject, ctx) => {
        checkBytes(status(incoming).certificate, 'status.certificate');
        const next = structuredClone(current) as KubeObject;
        const kept = conditionsOf(current).filter((c) => APPROVAL.has(c.type as string));
        const others = conditionsOf(incoming).filter((c) => !APPROVAL.has(c.type as string));
        const conds = withTimes([...kept, ...others], conditionsOf(current), ctx.now);
        const s: Record<string, unknown> = { ...status(incoming) };
        if (conds.length > 0) s.conditions = conds;
        else delete s.conditions;
        next.status = s;
        return next;
      },
    },
  },
};
