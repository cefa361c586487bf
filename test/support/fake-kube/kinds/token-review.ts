/**
 * authentication.k8s.io/v1 TokenReview: create only, never stored. The
 * answer comes from the fake's token table: authenticated, user name, uid
 * and groups, the audiences the token is valid for among those asked (the
 * API's own when none), or an error (wrong audience, expired, deleted
 * ServiceAccount). As on a real server, `authenticated: false` is omitted.
 */
import { badRequest } from '../status.js';
import type { ResourceKind } from '../types.js';

/** The TokenReview kind. */
export const tokenReviewKind: ResourceKind = {
  group: 'authentication.k8s.io',
  version: 'v1',
  plural: 'tokenreviews',
  singular: 'tokenreview',
  kind: 'TokenReview',
  namespaced: false,
  verbs: ['create'],
  ephemeralCreate(obj, ctx) {
    const spec = (obj.spec ?? {}) as { token?: unknown; audiences?: unknown };
    if (typeof spec.token !== 'string' || spec.token === '') {
      throw badRequest('token is required for TokenReview in authentication');
    }
    const audiences = Array.isArray(spec.audiences) ? spec.audiences.filter((a): a is string => typeof a === 'string') : [];
    const check = ctx.tokens.check(spec.token, audiences, ctx.now);
    const status: Record<string, unknown> = check.authenticated
      ? {
          authenticated: true,
          user: { username: check.user.name, uid: check.user.uid, groups: check.user.groups },
          audiences: check.audiences,
        }
      : { user: {}, ...(check.error ? { error: check.error } : {}) };
    return {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { ...(obj.metadata ?? {}) },
      spec: obj.spec,
      status,
    };
  },
};
