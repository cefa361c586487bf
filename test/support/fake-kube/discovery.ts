/**
 * Discovery documents generated from the resource table: /api, /apis,
 * /apis/{group}, /api/v1 and /apis/{group}/{version}. Enough for
 * client-node's KubernetesObjectApi, which looks kinds up there.
 */
import type { ResourceKind, Verb } from './types.js';

const ALL_VERBS: Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** /api */
export function coreVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupDoc(name: string, versions: string[]): object {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: list, preferredVersion: list[0] };
}

function groupVersions(kinds: ResourceKind[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const k of kinds) {
    if (!k.group) continue;
    const vs = groups.get(k.group) ?? [];
    if (!vs.includes(k.version)) vs.push(k.version);
    groups.set(k.group, vs);
  }
  return groups;
}

/** /apis */
export function groupList(kinds: ResourceKind[]): object {
  const groups = [...groupVersions(kinds)].map(([name, vs]) => groupDoc(name, vs));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** /apis/{group}, or undefined when no kind has that group. */
export function group(kinds: ResourceKind[], name: string): object | undefined {
  const vs = groupVersions(kinds).get(name);
  return vs ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(name, vs) } : undefined;
}

/** /api/v1 or /apis/{group}/{version}, or undefined when nothing is served there. */
export function resourceList(kinds: ResourceKind[], groupName: string, version: string): object | undefined {
  const here = kinds.filter((k) => k.group === groupName && k.version === version);
  if (here.length === 0) return undefined;
  const resources: object[] = [];
  for (const k of here) {
    resources.push({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: [...(k.verbs ?? ALL_VERBS)].sort(),
      ...(k.shortNames ? { shortNames: k.shortNames } : {}),
    });
    for (const [sub, spec] of Object.entries(k.subresources ?? {})) {
      const [g, v] = spec.type === 'create' && spec.apiVersion.includes('/') ? spec.apiVersion.split('/') : [undefined, undefined];
      resources.push({
        name: `${k.plural}/${sub}`,
        singularName: '',
        namespaced: k.namespaced,
        ...(g ? { group: g, version: v } : {}),
        kind: spec.type === 'create' ? spec.kind : k.kind,
        verbs: spec.type === 'create' ? ['create'] : ['get', 'patch', 'update'],
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupName ? `${groupName}/${version}` : version, resources };
}
