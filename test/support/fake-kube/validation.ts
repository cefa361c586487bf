/**
 * Field checks with the API server's rules and wording: RFC 1123 names,
 * label keys and values, and the common ObjectMeta checks. Each returns
 * causes for a 422 Invalid Status.
 */
import type { Cause, KubeObject, ResourceKind } from './types.js';

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;
const LABEL_RE = new RegExp(`^${LABEL}$`);
const SUBDOMAIN_RE = new RegExp(`^${SUBDOMAIN}$`);
const QUALIFIED_NAME = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME}$`);
const LABEL_VALUE_RE = new RegExp(`^(${QUALIFIED_NAME})?$`);

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" +
  SUBDOMAIN +
  "')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" +
  LABEL +
  "')";
const QUALIFIED_NAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
  QUALIFIED_NAME +
  "')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(" +
  QUALIFIED_NAME +
  ")?')";

/** A cause for a value that breaks a rule. */
export function invalidValue(field: string, value: unknown, why: string): Cause {
  return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}` };
}

/** A cause for a missing value. */
export function required(field: string, why = ''): Cause {
  return { field, reason: 'FieldValueRequired', message: why ? `Required value: ${why}` : 'Required value' };
}

/** A cause for a value that may not be set or changed. */
export function forbiddenField(field: string, why: string): Cause {
  return { field, reason: 'FieldValueForbidden', message: `Forbidden: ${why}` };
}

/** Checks an RFC 1123 subdomain (most object names): at most 253 characters. */
export function checkSubdomain(field: string, value: string): Cause[] {
  const out: Cause[] = [];
  if (value.length > 253) out.push(invalidValue(field, value, 'must be no more than 253 characters'));
  if (!SUBDOMAIN_RE.test(value)) out.push(invalidValue(field, value, SUBDOMAIN_MSG));
  return out;
}

/** Checks an RFC 1123 label (Namespace names): at most 63 characters. */
export function checkLabelName(field: string, value: string): Cause[] {
  const out: Cause[] = [];
  if (value.length > 63) out.push(invalidValue(field, value, 'must be no more than 63 characters'));
  if (!LABEL_RE.test(value)) out.push(invalidValue(field, value, LABEL_MSG));
  return out;
}

/** Checks a label or annotation key: optional DNS subdomain prefix, `/`, a qualified name of at most 63. */
export function checkQualifiedName(field: string, key: string): Cause[] {
  const slash = key.split('/');
  if (slash.length > 2) {
    return [invalidValue(field, key, `a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`)];
  }
  const name = slash.length === 2 ? slash[1]! : slash[0]!;
  const out: Cause[] = [];
  if (slash.length === 2) {
    const prefix = slash[0]!;
    if (prefix.length === 0) out.push(invalidValue(field, key, 'prefix part must be non-empty'));
    else if (prefix.length > 253 || !SUBDOMAIN_RE.test(prefix)) out.push(invalidValue(field, key, `prefix part ${SUBDOMAIN_MSG}`));
  }
  if (name.length === 0) out.push(invalidValue(field, key, 'name part must be non-empty'));
  else {
    if (name.length > 63) out.push(invalidValue(field, key, 'name part must be no more than 63 characters'));
    if (!QUALIFIED_NAME_RE.test(name)) out.push(invalidValue(field, key, QUALIFIED_NAME_MSG));
  }
  return out;
}

/** Checks a label value: empty, or a qualified name of at most 63 characters. */
export function checkLabelValue(field: string, value: string): Cause[] {
  const out: Cause[] = [];
  if (value.length > 63) out.push(invalidValue(field, value, 'must be no more than 63 characters'));
  if (!LABEL_VALUE_RE.test(value)) out.push(invalidValue(field, value, LABEL_VALUE_MSG));
  return out;
}

/** True when `value` is a valid label value (used by selector parsing). */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE_RE.test(value);
}

/** True when `key` is a valid label key. */
export function isLabelKey(key: string): boolean {
  return checkQualifiedName('k', key).length === 0;
}

/**
 * The ObjectMeta checks every kind shares: name present and well formed,
 * namespace only on namespaced kinds, string maps of labels and annotations
 * with valid keys and values.
 */
export function checkObjectMeta(obj: KubeObject, kind: ResourceKind): Cause[] {
  const meta = obj.metadata ?? {};
  const out: Cause[] = [];
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    out.push(required('metadata.name', 'name or generateName is required'));
  } else {
    out.push(...(kind.nameRule === 'label' ? checkLabelName('metadata.name', name) : checkSubdomain('metadata.name', name)));
  }
  if (!kind.namespaced && meta.namespace) {
    out.push(forbiddenField('metadata.namespace', 'not allowed on this type'));
  }
  out.push(...checkStringMap(meta.labels, 'metadata.labels', true));
  out.push(...checkStringMap(meta.annotations, 'metadata.annotations', false));
  return out;
}

function checkStringMap(map: unknown, field: string, isLabels: boolean): Cause[] {
  if (map === undefined || map === null) return [];
  if (typeof map !== 'object' || Array.isArray(map)) return [invalidValue(field, map, 'must be a map of strings')];
  const out: Cause[] = [];
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    out.push(...checkQualifiedName(field, k));
    if (typeof v !== 'string') out.push(invalidValue(`${field}[${k}]`, v, 'must be a string'));
    else if (isLabels) out.push(...checkLabelValue(field, v));
  }
  return out;
}
