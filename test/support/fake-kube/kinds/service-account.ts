/**
 * core/v1 ServiceAccount and its `token` subresource (TokenRequest):
 * POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token issues a
 * bound token for the requested audiences (the API's own when none) and
 * lifetime (default 1 h, at least 10 min), which TokenReview and the
 * fake's request authentication then recognise.
 */
import { badRequest, invalid } from '../status.js';
import type { Cause, CreateSubresource, KubeObject, ResourceKind } from '../types.js';
import { rfc3339 } from '../util.js';
import { invalidValue } from '../validation.js';

const TOKEN_REQUEST = { kind: 'TokenRequest', group: 'authentication.k8s.io' };

interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: unknown;
}

/** The `token` subresource. */
export const tokenRequestSubresource: CreateSubresource = {
  type: 'create',
  kind: 'TokenRequest',
  apiVersion: 'authentication.k8s.io/v1',
  create(body, sa, ctx): KubeObject {
    const meta = body.metadata ?? {};
    if (meta.name && meta.name !== sa.metadata.name) {
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${sa.metadata.name})`);
    }
    const spec = (body.spec ?? {}) as TokenRequestSpec;
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    const causes: Cause[] = [];
    if (!Number.isInteger(expirationSeconds)) causes.push(invalidValue('spec.expirationSeconds', expirationSeconds, 'must be an integer'));
    else if (expirationSeconds < 600) causes.push(invalidValue('spec.expirationSeconds', expirationSeconds, 'may not specify a duration less than 10 minutes'));
    else if (expirationSeconds > 2 ** 32) causes.push(invalidValue('spec.expirationSeconds', expirationSeconds, 'may not specify a duration larger than 2^32 seconds'));
    if (spec.audiences !== undefined && (!Array.isArray(spec.audiences) || spec.audiences.some((a) => typeof a !== 'string'))) {
      causes.push(invalidValue('spec.audiences', spec.audiences, 'must be a list of strings'));
    }
    if (causes.length > 0) throw invalid(TOKEN_REQUEST, sa.metadata.name, causes);
    const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : ctx.tokens.apiAudiences;
    const issued = ctx.tokens.issue(sa, audiences, expirationSeconds, ctx.now);
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, creationTimestamp: rfc3339(ctx.now) },
      spec: { audiences, expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token: issued.token, expirationTimestamp: rfc3339(issued.expiresAt) },
    };
  },
};

/** The ServiceAccount kind. */
export const serviceAccountKind: ResourceKind = {
  group: '',
  version: 'v1',
  plural: 'serviceaccounts',
  singular: 'serviceaccount',
  kind: 'ServiceAccount',
  namespaced: true,
  shortNames: ['sa'],
  subresources: { token: tokenRequestSubresource },
};
