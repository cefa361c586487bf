/**
 * apiVersion and kind of request bodies: filled in when absent, as the API
 * server does with its default GroupVersionKind, a 400 when they name
 * something else than the endpoint serves.
 */
import { badRequest } from './status.js';
import { apiVersionOf, type CreateSubresource, type KubeObject, type ResourceKind } from './types.js';

/** Checks apiVersion/kind of a body (fills them when absent, as the API does) and returns a copy. */
export function checkTypeMeta(body: KubeObject, kind: ResourceKind): KubeObject {
  return checkTypeMetaAgainst(body, apiVersionOf(kind), kind.kind);
}

/** The same for the body of a create-type subresource (e.g. TokenRequest). */
export function checkSubresourceTypeMeta(body: KubeObject, sub: CreateSubresource): KubeObject {
  return checkTypeMetaAgainst(body, sub.apiVersion, sub.kind);
}

function checkTypeMetaAgainst(body: KubeObject, apiVersion: string, kindName: string): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const obj = structuredClone(body);
  if (obj.apiVersion && obj.apiVersion !== apiVersion) {
    throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`);
  }
  if (obj.kind && obj.kind !== kindName) {
    throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${kindName})`);
  }
  obj.apiVersion = apiVersion;
  obj.kind = kindName;
  return obj;
}
