/**
 * Strict field check of Kubernetes objects against the API types that
 * @kubernetes/client-node is generated from (each model's attributeTypeMap:
 * JSON field name and type). It reports what a real kube-apiserver refuses
 * with strict field validation (kubectl's default `--validate=strict`):
 * unknown or misspelled fields, and values of the wrong type (a number
 * where a string belongs, a map where a list belongs). kubectl's client dry
 * run with `--validate=false`, which is all this machine can run without an
 * API server, checks neither. Required fields and value formats are not
 * checked here.
 */
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}
type Model = { attributeTypeMap?: Attribute[] };
const models = k8s as unknown as Record<string, Model | undefined>;

/** Map fields whose values are resource quantities: the API takes a number or a string there. */
const QUANTITY_MAPS = new Set(['limits', 'requests', 'hard', 'overhead', 'capacity', 'allocatable']);

/** The client-node model of an object's apiVersion and kind ("apps/v1", "Deployment" → "V1Deployment"). */
export function modelName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split('/').at(-1) ?? '';
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  return models[name]?.attributeTypeMap ? name : undefined;
}

/** Problems of one object, each "path: what is wrong"; empty when it passes. */
export function schemaProblems(obj: object): string[] {
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  const name = modelName(String(apiVersion), String(kind));
  if (!name) return [`no API type for ${String(apiVersion)} ${String(kind)}`];
  const problems: string[] = [];
  check(obj, name, '', false, problems);
  return problems;
}

const describe = (v: unknown): string => (Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`);

function check(value: unknown, type: string, path: string, quantity: boolean, problems: string[]): void {
  if (value === null || value === undefined) return; // null is "not set" to the API
  const where = path || '(object)';
  const bad = (expected: string): void => void problems.push(`${where}: expected ${expected}, found ${describe(value)}`);
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (!Array.isArray(value)) return bad('a list');
    value.forEach((v, i) => check(v, list[1]!, `${path}[${i}]`, false, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return bad('a map');
    for (const [k, v] of Object.entries(value)) check(v, map[1]!, `${path}.${k}`, quantity, problems);
    return;
  }
  switch (type) {
    case 'string':
      if (typeof value === 'string') return;
      if (quantity && typeof value === 'number') return;
      return bad('a string');
    case 'Date':
      if (typeof value !== 'string') bad('a date string');
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) bad('a number');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') bad('true or false');
      return;
    case 'IntOrString':
      if (!(typeof value === 'string' || Number.isInteger(value))) bad('an integer or a string');
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = models[type]?.attributeTypeMap;
  if (!model) {
    problems.push(`${where}: no API type ${type} to check against`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return bad('a map');
  const fields = new Map(model.map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const a = fields.get(k);
    const at = path ? `${path}.${k}` : k;
    if (!a) {
      problems.push(`${at}: unknown field (${type} has ${[...fields.keys()].join(', ')})`);
      continue;
    }
    check(v, a.type, at, QUANTITY_MAPS.has(k), problems);
  }
}
