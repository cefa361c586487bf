/**
 * API errors as the real server sends them: a `Status` object with code,
 * reason, message and details. Engine code throws StatusError; the HTTP
 * layer writes `toJSON()` with `code` as the HTTP status.
 */
import type { Cause, ResourceKind } from './types.js';

/** Status.details as the API fills it. */
export interface StatusDetails {
  name?: string;
  group?: string;
  /** The resource (plural) for most reasons; the Kind for Invalid. */
  kind?: string;
  uid?: string;
  causes?: Array<{ reason: string; message: string; field: string }>;
  retryAfterSeconds?: number;
}

/** The JSON body of an error (or Success) Status. */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An API error; thrown by the store and written by the HTTP layer. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'StatusError';
  }

  /** The Status object for the response body. */
  toJSON(): StatusBody {
    const body: StatusBody = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) body.details = this.details;
    return body;
  }
}

type KindRef = Pick<ResourceKind, 'plural' | 'group'>;

function details(kind: KindRef, name?: string): StatusDetails {
  const d: StatusDetails = {};
  if (name !== undefined) d.name = name;
  if (kind.group) d.group = kind.group;
  d.kind = kind.plural;
  return d;
}

/** `secrets "x"` or `leases.coordination.k8s.io "x"`, as the API names objects in messages. */
function named(kind: KindRef, name: string): string {
  return `${kind.group ? `${kind.plural}.${kind.group}` : kind.plural} "${name}"`;
}

/** 404 NotFound: `secrets "x" not found`. */
export function notFound(kind: KindRef, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${named(kind, name)} not found`, details(kind, name));
}

/** 409 AlreadyExists: `secrets "x" already exists`. */
export function alreadyExists(kind: KindRef, name: string): StatusError {
  return new StatusError(409, 'AlreadyExists', `${named(kind, name)} already exists`, details(kind, name));
}

/** 409 Conflict: `Operation cannot be fulfilled on secrets "x": <why>`. */
export function conflict(kind: KindRef, name: string, why: string): StatusError {
  return new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${named(kind, name)}: ${why}`, details(kind, name));
}

/** The text of a stale-update conflict. */
export const OBJECT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

/** 422 Invalid with one cause per failed field: `Secret "x" is invalid: metadata.name: Invalid value: ...`. */
export function invalid(kind: Pick<ResourceKind, 'kind' | 'group'>, name: string, causes: Cause[]): StatusError {
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const list = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
  const d: StatusDetails = { name };
  if (kind.group) d.group = kind.group;
  d.kind = kind.kind;
  d.causes = causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }));
  return new StatusError(422, 'Invalid', `${kind.kind} "${name}" is invalid: ${list}`, d);
}

/** 400 BadRequest. */
export function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

/** 401 Unauthorized, as sent for a missing or unknown bearer token. */
export function unauthorized(): StatusError {
  return new StatusError(401, 'Unauthorized', 'Unauthorized');
}

/** 403 Forbidden with the API's wording. */
export function forbidden(kind: KindRef, name: string | undefined, why: string): StatusError {
  const subject = name === undefined ? (kind.group ? `${kind.plural}.${kind.group}` : kind.plural) : named(kind, name);
  return new StatusError(403, 'Forbidden', `${subject} is forbidden: ${why}`, details(kind, name));
}

/** 404 for a path the server does not serve. */
export function noSuchPath(): StatusError {
  return new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(): StatusError {
  return new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

/** 410 Expired: a watch or list from a resourceVersion the server no longer has. */
export function expired(requested: string, oldest: string): StatusError {
  return new StatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/** 415 UnsupportedMediaType. */
export function unsupportedMediaType(contentType: string, supported: string[]): StatusError {
  return new StatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${supported.join(', ')}`,
    { causes: [{ reason: 'UnexpectedHeader', message: `Content-Type "${contentType}" is not supported`, field: 'Content-Type' }] },
  );
}

/** 500 InternalError. */
export function internalError(message: string): StatusError {
  return new StatusError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ reason: '', message, field: '' }],
  });
}

/** The Success Status a DELETE returns for most kinds. */
export function deleteSuccess(kind: KindRef, name: string, uid: string): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...details(kind, name), uid },
    code: 200,
  };
}
