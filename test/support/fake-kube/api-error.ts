/** Test helper: what an API call that should fail was answered with. */
import { ApiException } from '@kubernetes/client-node';
import type { StatusBody } from './status.js';

/** The HTTP code and parsed Status of a rejected client-node call (the call must fail with an ApiException). */
export async function apiFailure(call: Promise<unknown>): Promise<{ code: number; status?: StatusBody }> {
  let err: unknown;
  try {
    await call;
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ApiException)) {
    throw new Error(`expected an ApiException, got ${err === undefined ? 'success' : String(err)}`);
  }
  const body: unknown = err.body;
  let status: StatusBody | undefined;
  if (typeof body === 'string' && body.trim().startsWith('{')) status = JSON.parse(body) as StatusBody;
  return status ? { code: err.code as number, status } : { code: err.code as number };
}
