/**
 * PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
 * strategic merge patch treated as a merge patch (the kinds served here have
 * no list merge keys that would make a difference for tests).
 */
import { badRequest, StatusError, unsupportedMediaType } from './status.js';
import { deepEqual } from './util.js';

/** The patch content types the fake accepts. */
export const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
] as const;

/** Applies a patch of the given content type to a JSON document; returns a new document. */
export function applyPatch(contentType: string, doc: unknown, patch: unknown): unknown {
  switch (contentType) {
    case 'application/merge-patch+json':
    case 'application/strategic-merge-patch+json':
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
        throw badRequest('the body of a merge patch must be a JSON object');
      }
      return mergePatch(doc, patch);
    case 'application/json-patch+json':
      return jsonPatch(doc, patch);
    default:
      throw unsupportedMediaType(contentType, [...PATCH_TYPES]);
  }
}

/** RFC 7386: objects merge recursively, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

/** The 422 the API answers when a well-formed JSON patch cannot be applied. */
function cannotApply(message: string): StatusError {
  return new StatusError(422, 'Invalid', message);
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** Finds the parent container of the pointer's last token. */
function locate(root: unknown, tokens: string[], path: string): { parent: Container; key: string } {
  let cur: unknown = root;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, path, false)];
    else if (cur !== null && typeof cur === 'object' && t in cur) cur = (cur as Record<string, unknown>)[t];
    else throw cannotApply(`doc is missing path: "${path}": missing value`);
  }
  if (cur === null || typeof cur !== 'object') throw cannotApply(`doc is missing path: "${path}": missing value`);
  return { parent: cur as Container, key: tokens[tokens.length - 1]! };
}

function arrayIndex(arr: unknown[], token: string, path: string, forInsert: boolean): number {
  if (forInsert && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw cannotApply(`invalid array index "${token}" in "${path}"`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length)) throw cannotApply(`array index out of bounds in "${path}"`);
  return i;
}

function getAt(root: unknown, path: string): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return root;
  const { parent, key } = locate(root, tokens, path);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, key, path, false)];
  if (!(key in parent)) throw cannotApply(`doc is missing path: "${path}": missing value`);
  return parent[key];
}

function removeAt(root: unknown, path: string): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw cannotApply('cannot remove the whole document');
  const { parent, key } = locate(root, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, path, false), 1)[0];
  if (!(key in parent)) throw cannotApply(`Unable to remove nonexistent key: ${key}: missing value`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(root: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = locate(root, tokens, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, key, path, !replace);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else {
    if (replace && !(key in parent)) throw cannotApply(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    parent[key] = value;
  }
  return root;
}

/** RFC 6902 operations add, remove, replace, move, copy, test. */
export function jsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let root: unknown = structuredClone(doc);
  for (const raw of patch as Operation[]) {
    if (raw === null || typeof raw !== 'object' || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest('a JSON patch operation needs "op" and "path"');
    }
    switch (raw.op) {
      case 'add':
        root = addAt(root, raw.path, structuredClone(raw.value), false);
        break;
      case 'replace':
        root = addAt(root, raw.path, structuredClone(raw.value), true);
        break;
      case 'remove':
        removeAt(root, raw.path);
        break;
      case 'move': {
        const v = removeAt(root, raw.from ?? '');
        root = addAt(root, raw.path, v, false);
        break;
      }
      case 'copy':
        root = addAt(root, raw.path, structuredClone(getAt(root, raw.from ?? '')), false);
        break;
      case 'test':
        if (!deepEqual(getAt(root, raw.path), raw.value)) {
          throw cannotApply(`testing value ${raw.path} failed: test failed`);
        }
        break;
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return root;
}
