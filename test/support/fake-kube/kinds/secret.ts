/**
 * core/v1 Secret: `stringData` folded into base64 `data`, type defaulting
 * to Opaque and immutable afterwards, config-key rules for data keys, the
 * required keys of `kubernetes.io/tls` Secrets, the `immutable` flag, and
 * the 1 MiB size limit. Field selector `type` as on a real server.
 */
import { badRequest } from '../status.js';
import type { Cause, KubeObject, ResourceKind, StoredObject } from '../types.js';
import { deepEqual } from '../util.js';
import { forbiddenField, invalidValue, required } from '../validation.js';

const KEY_RE = /^[-._a-zA-Z0-9]+$/;
const KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_BYTES = 1024 * 1024;

/** Folds stringData into data and checks that data values are base64, as decoding a real request does. */
function normalise(obj: KubeObject): void {
  const data = obj.data;
  if (data !== undefined && data !== null && (typeof data !== 'object' || Array.isArray(data))) {
    throw badRequest('Secret in version "v1" cannot be handled as a Secret: data must be a map of base64 strings');
  }
  for (const [k, v] of Object.entries((data ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string' || !BASE64_RE.test(v)) {
      throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data[${k}]`);
    }
  }
  const stringData = obj.stringData as Record<string, unknown> | undefined;
  if (stringData) {
    const merged: Record<string, string> = { ...((data ?? {}) as Record<string, string>) };
    for (const [k, v] of Object.entries(stringData)) merged[k] = Buffer.from(String(v), 'utf8').toString('base64');
    obj.data = merged;
    delete obj.stringData;
  }
  if (!obj.type) obj.type = 'Opaque';
}

function validate(obj: KubeObject, old: StoredObject | undefined): Cause[] {
  const out: Cause[] = [];
  const data = (obj.data ?? {}) as Record<string, string>;
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    if (!KEY_RE.test(k) || k === '.' || k === '..' || k.length > 253) out.push(invalidValue(`data[${k}]`, k, KEY_MSG));
    size += Buffer.from(v, 'base64').length;
  }
  if (size > MAX_BYTES) out.push({ field: 'data', reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_BYTES} bytes` });
  if (obj.type === 'kubernetes.io/tls') {
    if (!('tls.crt' in data)) out.push(required('data[tls.crt]'));
    if (!('tls.key' in data)) out.push(required('data[tls.key]'));
  }
  if (old) {
    if (obj.type !== old.type) out.push(invalidValue('type', obj.type, 'field is immutable'));
    if (old.immutable === true) {
      if (!deepEqual(old.data ?? {}, obj.data ?? {})) out.push(forbiddenField('data', 'field is immutable when `immutable` is set'));
      if (obj.immutable !== true) out.push(forbiddenField('immutable', 'field is immutable when `immutable` is set'));
    }
  }
  return out;
}

/** The Secret kind. */
export const secretKind: ResourceKind = {
  group: '',
  version: 'v1',
  plural: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  namespaced: true,
  selectableFields: { type: (o) => o.type as string | undefined },
  prepareCreate: normalise,
  prepareUpdate: normalise,
  validate,
};
