/**
 * coordination.k8s.io/v1 Lease: acquireTime and renewTime are MicroTime
 * (served with six fraction digits whatever precision was sent; an
 * unparsable time is a 400 like a decode error), leaseDurationSeconds must
 * be positive and leaseTransitions not negative.
 */
import { badRequest } from '../status.js';
import type { Cause, KubeObject, ResourceKind } from '../types.js';
import { microTime, parseTime } from '../util.js';
import { invalidValue } from '../validation.js';

const TIME_FIELDS = ['acquireTime', 'renewTime'] as const;

function normalise(obj: KubeObject): void {
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (!spec) return;
  for (const f of TIME_FIELDS) {
    const v = spec[f];
    if (v === undefined || v === null) continue;
    const d = parseTime(v);
    if (!d) throw badRequest(`Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(v)} of spec.${f}`);
    spec[f] = microTime(d);
  }
}

function validate(obj: KubeObject): Cause[] {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const out: Cause[] = [];
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && d !== null && (typeof d !== 'number' || !Number.isInteger(d) || d <= 0)) {
    out.push(invalidValue('spec.leaseDurationSeconds', d, 'must be greater than 0'));
  }
  const t = spec.leaseTransitions;
  if (t !== undefined && t !== null && (typeof t !== 'number' || !Number.isInteger(t) || t < 0)) {
    out.push(invalidValue('spec.leaseTransitions', t, 'must be greater than or equal to 0'));
  }
  return out;
}

/** The Lease kind. */
export const leaseKind: ResourceKind = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  singular: 'lease',
  kind: 'Lease',
  namespaced: true,
  prepareCreate: normalise,
  prepareUpdate: normalise,
  validate,
};
