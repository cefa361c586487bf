/**
 * core/v1 ConfigMap: string `data` and base64 `binaryData` with the
 * config-key rules, no key in both, the `immutable` flag and the 1 MiB
 * size limit, as a real server checks them.
 */
import type { Cause, KubeObject, ResourceKind, StoredObject } from '../types.js';
import { deepEqual } from '../util.js';
import { forbiddenField, invalidValue } from '../validation.js';

const KEY_RE = /^[-._a-zA-Z0-9]+$/;
const KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const MAX_BYTES = 1024 * 1024;

function validate(obj: KubeObject, old: StoredObject | undefined): Cause[] {
  const out: Cause[] = [];
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const binary = (obj.binaryData ?? {}) as Record<string, unknown>;
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    if (!KEY_RE.test(k) || k === '.' || k === '..') out.push(invalidValue(`data[${k}]`, k, KEY_MSG));
    if (typeof v !== 'string') out.push(invalidValue(`data[${k}]`, v, 'must be a string'));
    else size += Buffer.byteLength(v);
  }
  for (const [k, v] of Object.entries(binary)) {
    if (!KEY_RE.test(k)) out.push(invalidValue(`binaryData[${k}]`, k, KEY_MSG));
    if (k in data) out.push(invalidValue(`binaryData[${k}]`, k, 'duplicate of key present in data'));
    size += Buffer.from(String(v), 'base64').length;
  }
  if (size > MAX_BYTES) out.push({ field: '', reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_BYTES} bytes` });
  if (old?.immutable === true) {
    if (!deepEqual(old.data ?? {}, obj.data ?? {}) || !deepEqual(old.binaryData ?? {}, obj.binaryData ?? {})) {
      out.push(forbiddenField('data', 'field is immutable when `immutable` is set'));
    }
    if (obj.immutable !== true) out.push(forbiddenField('immutable', 'field is immutable when `immutable` is set'));
  }
  return out;
}

/** The ConfigMap kind. */
export const configMapKind: ResourceKind = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  namespaced: true,
  shortNames: ['cm'],
  validate,
};
