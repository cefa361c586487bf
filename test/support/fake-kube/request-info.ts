/**
 * Reads an API path the way the API server's RequestInfo does:
 * /api/v1/... (core) or /apis/{group}/{version}/..., then
 * [namespaces/{ns}/]{resource}[/{name}[/{subresource}]]; `/namespaces/{name}`
 * and its status/finalize subresources address Namespace objects.
 */

/** A request for objects of a resource. */
export interface ResourcePath {
  type: 'resource';
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
}

/** Any path the fake serves. */
export type ApiPath =
  | ResourcePath
  | { type: 'core-versions' }
  | { type: 'group-list' }
  | { type: 'group'; group: string }
  | { type: 'resource-list'; group: string; version: string }
  | { type: 'version' }
  | { type: 'health' }
  | { type: 'unknown' };

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Parses a URL path (without query). */
export function parseApiPath(pathname: string): ApiPath {
  let parts: string[];
  try {
    parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    return { type: 'unknown' };
  }
  const [root, ...rest] = parts;
  if (parts.length === 1 && root === 'version') return { type: 'version' };
  if (parts.length === 1 && (root === 'healthz' || root === 'readyz' || root === 'livez')) return { type: 'health' };
  let group: string;
  let version: string | undefined;
  let tail: string[];
  if (root === 'api') {
    if (rest.length === 0) return { type: 'core-versions' };
    group = '';
    [version, ...tail] = rest;
  } else if (root === 'apis') {
    if (rest.length === 0) return { type: 'group-list' };
    if (rest.length === 1) return { type: 'group', group: rest[0]! };
    [group, version, ...tail] = rest as [string, string, ...string[]];
  } else {
    return { type: 'unknown' };
  }
  if (tail.length === 0) return { type: 'resource-list', group, version: version! };
  let namespace: string | undefined;
  if (tail[0] === 'namespaces' && tail.length >= 3 && !NAMESPACE_SUBRESOURCES.has(tail[2]!)) {
    namespace = tail[1];
    tail = tail.slice(2);
  }
  if (tail.length > 3) return { type: 'unknown' };
  const [resource, name, subresource] = tail;
  const out: ResourcePath = { type: 'resource', group, version: version!, resource: resource! };
  if (namespace !== undefined) out.namespace = namespace;
  if (name !== undefined) out.name = name;
  if (subresource !== undefined) out.subresource = subresource;
  return out;
}
