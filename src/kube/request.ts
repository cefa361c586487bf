/**
 * How every facade call is made: a per-request deadline (client-node has
 * none by default, so a black-holed API would hang a caller forever) and
 * errors mapped to KubeError.
 */
import { Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node';
import { toKubeError } from './errors.js';

/** Default deadline of one API request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Per-call options that abort the request after `timeoutMs`. */
export function deadline(timeoutMs: number): ConfigurationOptions {
  const mw: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(ctx));
    },
    post: (rsp) => new Observable(Promise.resolve(rsp)),
  };
  return { middleware: [mw], middlewareMergeStrategy: 'append' };
}

/** Runs one API call; any failure becomes a KubeError whose message starts with `what`. */
export async function kubeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toKubeError(err, what);
  }
}
