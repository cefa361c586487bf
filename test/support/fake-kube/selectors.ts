/**
 * Label and field selectors with the API server's grammar:
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>n`,
 * `k<n`, requirements joined by commas (AND). A malformed selector is a
 * 400 BadRequest, as on a real server.
 */
import { badRequest } from './status.js';
import type { StoredObject } from './types.js';
import { isLabelKey, isLabelValue } from './validation.js';

type Op = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists' | 'gt' | 'lt';

interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

/** A parsed selector: a predicate over label (or field) maps. */
export interface Selector {
  matches(labels: Record<string, string> | undefined): boolean;
  /** True when it matches everything (empty selector). */
  readonly empty: boolean;
}

/** Splits on commas outside parentheses. */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const KEY = '[^\\s=!<>(),]+';
const SET_RE = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\((.*)\\)$`);
const CMP_RE = new RegExp(`^(${KEY})\\s*(==|!=|=|>|<)\\s*(.*)$`);
const EXISTS_RE = new RegExp(`^(${KEY})$`);
const NOT_EXISTS_RE = new RegExp(`^!\\s*(${KEY})$`);

function parseRequirement(raw: string, checkKey: (k: string) => void, checkValue: (v: string) => void): Requirement {
  const s = raw.trim();
  let m = NOT_EXISTS_RE.exec(s);
  if (m) {
    checkKey(m[1]!);
    return { key: m[1]!, op: 'notexists', values: [] };
  }
  m = SET_RE.exec(s);
  if (m) {
    const values = m[3]!.split(',').map((v) => v.trim());
    checkKey(m[1]!);
    values.forEach(checkValue);
    return { key: m[1]!, op: m[2] === 'in' ? 'in' : 'notin', values };
  }
  m = CMP_RE.exec(s);
  if (m) {
    const [, key, sym, value] = m as unknown as [string, string, string, string];
    checkKey(key);
    if (sym === '>' || sym === '<') {
      if (!/^-?\d+$/.test(value.trim())) throw badRequest(`unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer`);
      return { key, op: sym === '>' ? 'gt' : 'lt', values: [value.trim()] };
    }
    checkValue(value.trim());
    return { key, op: sym === '!=' ? 'neq' : 'eq', values: [value.trim()] };
  }
  m = EXISTS_RE.exec(s);
  if (m) {
    checkKey(m[1]!);
    return { key: m[1]!, op: 'exists', values: [] };
  }
  throw badRequest(`unable to parse requirement: found '${s}', expected: identifier or operator`);
}

function matchOne(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'eq':
      return has && v === r.values[0];
    case 'neq':
      return !has || v !== r.values[0];
    case 'in':
      return has && r.values.includes(v!);
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'exists':
      return has;
    case 'notexists':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const a = Number(v);
      const b = Number(r.values[0]);
      return r.op === 'gt' ? a > b : a < b;
    }
  }
}

function build(reqs: Requirement[]): Selector {
  return {
    empty: reqs.length === 0,
    matches: (labels) => reqs.every((r) => matchOne(r, labels ?? {})),
  };
}

/** Parses a `labelSelector` query value. */
export function parseLabelSelector(s: string | undefined): Selector {
  if (!s || s.trim() === '') return build([]);
  const checkKey = (k: string): void => {
    if (!isLabelKey(k)) throw badRequest(`unable to parse requirement: invalid label key "${k}"`);
  };
  const checkValue = (v: string): void => {
    if (!isLabelValue(v)) throw badRequest(`unable to parse requirement: invalid label value: "${v}"`);
  };
  return build(splitTopLevel(s).map((p) => parseRequirement(p, checkKey, checkValue)));
}

/** A parsed field selector plus the field values it reads from an object. */
export interface FieldSelector {
  matches(obj: StoredObject): boolean;
}

/**
 * Parses a `fieldSelector` query value. Only `=`, `==` and `!=` are
 * allowed, on metadata.name, metadata.namespace and the kind's own fields.
 */
export function parseFieldSelector(
  s: string | undefined,
  extra: Record<string, (obj: StoredObject) => string | undefined> = {},
): FieldSelector {
  if (!s || s.trim() === '') return { matches: () => true };
  const fields: Record<string, (obj: StoredObject) => string | undefined> = {
    'metadata.name': (o) => o.metadata.name,
    'metadata.namespace': (o) => o.metadata.namespace ?? '',
    ...extra,
  };
  const reqs = splitTopLevel(s).map((raw) => {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(raw.trim());
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${raw.trim()}'`);
    const key = m[1]!.trim();
    if (!fields[key]) {
      const known = Object.keys(fields).map((k) => `"${k}"`).join(', ');
      throw badRequest(`"${key}" is not a known field selector: only ${known}`);
    }
    return { get: fields[key]!, neq: m[2] === '!=', value: m[3]!.trim() };
  });
  return {
    matches: (obj) => reqs.every((r) => (r.get(obj) === r.value) !== r.neq),
  };
}
