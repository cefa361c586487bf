/**
 * Errors from the Kubernetes API, mapped from whatever @kubernetes/client-node
 * threw (ApiException with a Status body, fetch errors, aborts) to one
 * typed KubeError with the HTTP status and the Status reason, so callers
 * branch on `reason` ('NotFound', 'Conflict', ...) instead of parsing text.
 */

/**
 * The shape of client-node's ApiException (a numeric HTTP `code`, the
 * answer's `body` and `headers`), checked structurally so that this module
 * does not load the Kubernetes client: it is on the path of every role,
 * which must not pay for client-node unless a Kubernetes API is used.
 */
interface ApiExceptionLike extends Error {
  code: number;
  body: unknown;
  headers: unknown;
}

function isApiException(err: unknown): err is ApiExceptionLike {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err && 'headers' in err;
}

/** Stable codes: an API answer, no answer, no answer in time, or no usable configuration. */
export type KubeErrorCode = 'ERR_KUBE_API' | 'ERR_KUBE_UNREACHABLE' | 'ERR_KUBE_TIMEOUT' | 'ERR_KUBE_CONFIG';

/** One field cause of a 422 Invalid answer. */
export interface KubeErrorCause {
  field?: string;
  reason?: string;
  message?: string;
}

/** An error talking to the Kubernetes API. */
export class KubeError extends Error {
  readonly code: KubeErrorCode;
  /** HTTP status of the API's answer (404, 409, 422, 403, 401, ...); 0 when there was none. */
  readonly status: number;
  /**
   * The Status reason (NotFound, AlreadyExists, Conflict, Invalid,
   * Forbidden, Unauthorized, Expired, ...), or Unreachable / Timeout /
   * BadConfig for our own codes.
   */
  readonly reason: string;
  /** Field causes of an Invalid answer. */
  readonly causes: KubeErrorCause[];

  constructor(
    code: KubeErrorCode,
    message: string,
    opts: { status?: number; reason?: string; causes?: KubeErrorCause[]; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KubeError';
    this.code = code;
    this.status = opts.status ?? 0;
    this.reason = opts.reason ?? defaultReason(code, this.status);
    this.causes = opts.causes ?? [];
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function defaultReason(code: KubeErrorCode, status: number): string {
  if (code === 'ERR_KUBE_UNREACHABLE') return 'Unreachable';
  if (code === 'ERR_KUBE_TIMEOUT') return 'Timeout';
  if (code === 'ERR_KUBE_CONFIG') return 'BadConfig';
  return REASONS[status] ?? 'Unknown';
}

interface StatusLike {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { causes?: KubeErrorCause[] };
}

function parseStatus(body: unknown): StatusLike | undefined {
  let v: unknown = body;
  if (typeof body === 'string') {
    try {
      v = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return v !== null && typeof v === 'object' && (v as StatusLike).kind === 'Status' ? (v as StatusLike) : undefined;
}

/**
 * Maps an error of a client-node call to a KubeError whose message starts
 * with `what` (e.g. `read Secret kube-system/tunnel-ca`). KubeErrors pass
 * through unchanged.
 */
export function toKubeError(err: unknown, what: string): KubeError {
  if (err instanceof KubeError) return err;
  if (isApiException(err)) {
    const status = parseStatus(err.body);
    const code = err.code;
    const text = status?.message ?? REASONS[code] ?? `HTTP ${code}`;
    return new KubeError('ERR_KUBE_API', `${what}: ${text}`, {
      status: code,
      reason: status?.reason || REASONS[code] || 'Unknown',
      causes: status?.details?.causes ?? [],
      cause: err,
    });
  }
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
    return new KubeError('ERR_KUBE_TIMEOUT', `${what}: no answer from the Kubernetes API in time`, { cause: err });
  }
  const detail = e?.code ? `${e.code}: ${e.message ?? ''}` : (e?.message ?? String(err));
  return new KubeError('ERR_KUBE_UNREACHABLE', `${what}: cannot reach the Kubernetes API (${detail})`, { cause: err });
}

/** True for a 404 NotFound answer. */
export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.status === 404;
}

/** True for a 409 Conflict (stale resourceVersion or failed precondition). */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409 && err.reason === 'Conflict';
}

/** True for a 409 AlreadyExists. */
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeError && err.status === 409 && err.reason === 'AlreadyExists';
}
