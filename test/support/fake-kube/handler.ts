/**
 * The HTTP face of the fake API: authenticates the bearer token (401),
 * maps method and path to a verb on a kind of the table (404/405),
 * authorizes (403), lets a test interceptor answer instead, reads the JSON
 * body, calls the registry, and writes objects, lists, Status errors or a
 * watch stream of JSON lines. Every request lands in the request log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer } from './authz.js';
import * as discovery from './discovery.js';
import { readJson, sendJson } from './http-io.js';
import { PATCH_TYPES } from './patch.js';
import type { Registry } from './registry.js';
import { parseApiPath, type ResourcePath } from './request-info.js';
import {
  deleteSuccess,
  internalError,
  methodNotAllowed,
  noSuchPath,
  StatusError,
  unauthorized,
  unsupportedMediaType,
} from './status.js';
import type { TokenAuthority } from './tokens.js';
import { qualifiedResource, type KubeObject, type ResourceKind, type UserInfo, type Verb } from './types.js';
import { selectorsOf, startWatch } from './watch-stream.js';

/** One request as the fake saw it (tokens never appear here). */
export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** get, list, watch, create, update, patch, delete, or undefined for discovery and unknown paths. */
  verb?: string;
  /** Plural resource, e.g. `secrets`. */
  resource?: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Authenticated user name; undefined when authentication failed. */
  user?: string;
  contentType?: string;
  /** HTTP status sent. */
  code: number;
}

/** A canned answer an interceptor returns instead of the normal one. */
export interface Fault {
  code: number;
  reason?: string;
  message?: string;
}

/** Sees each authenticated resource request before it runs; returning a Fault answers with it. */
export type Interceptor = (req: Omit<RequestRecord, 'code'>) => Fault | undefined;

/** What the handler needs from the fake. */
export interface HandlerDeps {
  registry: Registry;
  tokens: TokenAuthority;
  authorizer: Authorizer;
  now: () => Date;
  /** host:port, for /api. */
  serverAddress: () => string;
  record: (r: RequestRecord) => void;
  interceptors: () => Interceptor[];
  /** Enders of the open watch streams, called by close(). */
  watches: Set<() => void>;
}

const ALL_VERBS: Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/** Builds the request listener. */
export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'https://fake-kube');
    const rec: Omit<RequestRecord, 'code'> = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
    };
    const ct = req.headers['content-type'];
    if (ct) rec.contentType = ct;
    // Recorded when the answer is out (before the client can see it), or, for
    // a stream the client dropped, after the watch's own cleanup has run.
    let recorded = false;
    const done = (): void => {
      if (recorded) return;
      recorded = true;
      deps.record({ ...rec, code: res.statusCode });
    };
    res.on('finish', done);
    res.on('close', () => queueMicrotask(done));
    serve(deps, req, res, url, rec).catch((err: unknown) => {
      const e = err instanceof StatusError ? err : internalError(err instanceof Error ? err.message : String(err));
      if (!res.headersSent) sendJson(res, e.code, e.toJSON());
      else res.end();
    });
  };
}

async function serve(
  deps: HandlerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rec: Omit<RequestRecord, 'code'>,
): Promise<void> {
  const p = parseApiPath(url.pathname);
  if (p.type === 'health') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
    return;
  }
  if (p.type === 'version') {
    sendJson(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64' });
    return;
  }
  const user = authenticate(deps, req);
  rec.user = user.name;
  const kinds = deps.registry.kinds();
  const found =
    p.type === 'core-versions'
      ? discovery.coreVersions(deps.serverAddress())
      : p.type === 'group-list'
        ? discovery.groupList(kinds)
        : p.type === 'group'
          ? discovery.group(kinds, p.group)
          : p.type === 'resource-list'
            ? discovery.resourceList(kinds, p.group, p.version)
            : null;
  if (found !== null) {
    if (found === undefined || req.method !== 'GET') throw found === undefined ? noSuchPath() : methodNotAllowed();
    sendJson(res, 200, found);
    return;
  }
  if (p.type !== 'resource') throw noSuchPath();
  const kind = deps.registry.kindAt(p.group, p.version, p.resource);
  if (!kind) throw noSuchPath();
  const watch = url.searchParams.get('watch');
  const verb = verbOf(req.method ?? 'GET', p, watch === 'true' || watch === '1');
  Object.assign(rec, { verb, resource: p.resource, group: p.group });
  if (p.subresource) rec.subresource = p.subresource;
  if (p.namespace !== undefined) rec.namespace = p.namespace;
  if (p.name !== undefined) rec.name = p.name;
  checkShape(kind, p, verb);
  const denied = deps.authorizer.check(user, {
    verb,
    group: p.group,
    resource: p.resource,
    ...(p.subresource ? { subresource: p.subresource } : {}),
    ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
    ...(p.name !== undefined ? { name: p.name } : {}),
  });
  if (denied) throw denied;
  for (const intercept of deps.interceptors()) {
    const fault = intercept(rec);
    if (fault) {
      throw new StatusError(fault.code, fault.reason ?? 'InternalError', fault.message ?? `injected ${fault.code}`);
    }
  }
  await dispatch(deps, req, res, url, kind, p, verb, user);
}

function authenticate(deps: HandlerDeps, req: IncomingMessage): UserInfo {
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Bearer ')) throw unauthorized();
  const check = deps.tokens.check(h.slice('Bearer '.length).trim(), [], deps.now());
  if (!check.authenticated) throw unauthorized();
  return check.user;
}

function verbOf(method: string, p: ResourcePath, watch: boolean): string {
  switch (method) {
    case 'GET':
      return p.name !== undefined ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name !== undefined ? 'delete' : 'deletecollection';
    default:
      throw methodNotAllowed();
  }
}

/** 404 for paths a real server does not route, 405 for verbs the kind (or subresource) does not serve. */
function checkShape(kind: ResourceKind, p: ResourcePath, verb: string): void {
  if (!kind.namespaced && p.namespace !== undefined) throw noSuchPath();
  if (kind.namespaced && p.namespace === undefined && p.name !== undefined) throw noSuchPath();
  if (kind.namespaced && p.namespace === undefined && verb !== 'list' && verb !== 'watch') throw methodNotAllowed();
  if (p.subresource !== undefined) {
    const sub = kind.subresources?.[p.subresource];
    if (!sub) throw noSuchPath();
    const allowed = sub.type === 'create' ? ['create'] : ['get', 'update', 'patch'];
    if (!allowed.includes(verb)) throw methodNotAllowed();
    return;
  }
  if (verb === 'create' && p.name !== undefined) throw methodNotAllowed();
  if (!(kind.verbs ?? ALL_VERBS).includes(verb as Verb)) throw methodNotAllowed();
}

async function dispatch(
  deps: HandlerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  kind: ResourceKind,
  p: ResourcePath,
  verb: string,
  user: UserInfo,
): Promise<void> {
  const reg = deps.registry;
  const resource = qualifiedResource(kind);
  const q = url.searchParams;
  const dryRun = q.getAll('dryRun').includes('All');
  const name = p.name ?? '';
  switch (verb) {
    case 'get':
      sendJson(res, 200, reg.mustGet(resource, p.namespace, name));
      return;
    case 'list': {
      const limit = q.get('limit');
      const page = reg.listPage(resource, {
        ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        ...selectorsOf(q),
        ...(limit ? { limit: Number(limit) } : {}),
        ...(q.get('continue') ? { continue: q.get('continue')! } : {}),
      });
      const metadata: Record<string, unknown> = { resourceVersion: page.resourceVersion };
      if (page.continue) metadata.continue = page.continue;
      if (page.remainingItemCount !== undefined) metadata.remainingItemCount = page.remainingItemCount;
      sendJson(res, 200, {
        kind: kind.listKind ?? `${kind.kind}List`,
        apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
        metadata,
        // A real server leaves apiVersion and kind out of list items.
        items: page.items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
      });
      return;
    }
    case 'watch':
      startWatch(deps, req, res, resource, p, q);
      return;
    case 'create': {
      const body = await readJson(req, true);
      const opts = { user, dryRun, ...(p.namespace !== undefined ? { namespace: p.namespace } : {}) };
      const out = p.subresource
        ? reg.createSubresource(resource, p.namespace, name, p.subresource, body as KubeObject, opts)
        : reg.create(resource, body as KubeObject, opts);
      sendJson(res, 201, out);
      return;
    }
    case 'update': {
      const body = await readJson(req, true);
      const opts = { user, dryRun, name, ...(p.namespace !== undefined ? { namespace: p.namespace } : {}) };
      sendJson(res, 200, reg.update(resource, body as KubeObject, p.subresource ? { ...opts, subresource: p.subresource } : opts));
      return;
    }
    case 'patch': {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!(PATCH_TYPES as readonly string[]).includes(type)) throw unsupportedMediaType(type, [...PATCH_TYPES]);
      const body = await readJson(req, true, true);
      const opts = { user, dryRun, ...(p.subresource ? { subresource: p.subresource } : {}) };
      sendJson(res, 200, reg.patch(resource, p.namespace, name, type, body, opts));
      return;
    }
    case 'delete': {
      const body = (await readJson(req, false)) as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined;
      const gone = reg.delete(resource, p.namespace, name, {
        user,
        dryRun,
        ...(body?.preconditions ? { preconditions: body.preconditions } : {}),
      });
      sendJson(res, 200, kind.returnDeletedObject ? gone : deleteSuccess(kind, name, gone.metadata.uid));
      return;
    }
    default:
      throw methodNotAllowed();
  }
}
