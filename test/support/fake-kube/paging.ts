/** List paging tokens (`continue`): the list's resourceVersion and the last key served. */
import { badRequest } from './status.js';

/** Builds the token for the page after `after` (a namespace/name key). */
export function encodeContinue(rv: number, after: string): string {
  return Buffer.from(JSON.stringify({ rv, after })).toString('base64url');
}

/** Reads a token; 400 BadRequest when it is not one of ours. */
export function decodeContinue(token: string): { rv: number; after: string } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { rv: unknown; after: unknown };
    if (typeof v.rv === 'number' && typeof v.after === 'string') return { rv: v.rv, after: v.after };
  } catch {
    // fall through
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}
