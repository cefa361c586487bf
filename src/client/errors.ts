/**
 * Typed errors of the client library. Every error has a stable `code`;
 * dial failures also carry upstream's failure `reason`, which labels the
 * `dial_failure_total` metric the same way the Go client does.
 */
import type { ClientDialFailureReason } from '../observability/metrics.js';

/**
 * Why a dial failed (upstream's `GetDialFailureReason` values):
 * - `timeout`: no DIAL_RSP before the backstop (`dialTimeoutMs`),
 * - `context`: the caller gave up (`signal` aborted or `timeoutMs` passed),
 * - `endpoint`: DIAL_RSP carried an error (from the agent, or "No agent available" from the server),
 * - `dialclosed`: the server sent DIAL_CLS,
 * - `tunnelclosed`: the tunnel was closed, or the stream ended, before the dial finished,
 * - `streamsetup`: the Proxy stream could not be opened (server unreachable),
 * - `unknown`: anything else, e.g. a peer breaking the protocol.
 */
export type DialFailureReason = Exclude<ClientDialFailureReason, 'tunnelstarted'>;

/** Stable error codes of DialError. */
export type DialErrorCode =
  | 'ERR_DIAL_TIMEOUT'
  | 'ERR_DIAL_CONTEXT'
  | 'ERR_DIAL_ENDPOINT'
  | 'ERR_DIAL_CLOSED'
  | 'ERR_TUNNEL_CLOSED'
  | 'ERR_STREAM_SETUP'
  | 'ERR_PROTOCOL'
  | 'ERR_DIAL_UNKNOWN';

const CODE_BY_REASON: Record<DialFailureReason, DialErrorCode> = {
  timeout: 'ERR_DIAL_TIMEOUT',
  context: 'ERR_DIAL_CONTEXT',
  endpoint: 'ERR_DIAL_ENDPOINT',
  dialclosed: 'ERR_DIAL_CLOSED',
  tunnelclosed: 'ERR_TUNNEL_CLOSED',
  streamsetup: 'ERR_STREAM_SETUP',
  unknown: 'ERR_DIAL_UNKNOWN',
};

/** Extra facts of a DialError. */
export interface DialErrorDetails {
  /** The address that was dialed ("host:port"). */
  address: string;
  /** The dial id (`random`) of the DIAL_REQ. */
  dialID: bigint;
  /** For reason `endpoint`: the error text of DIAL_RSP, verbatim. */
  endpointError?: string;
  /** A more specific code than the reason's default (e.g. ERR_PROTOCOL for reason `unknown`). */
  code?: DialErrorCode;
  /** The underlying error (a gRPC stream error, the abort reason, ...). */
  cause?: unknown;
}

/** A dial through the tunnel failed. `reason` says why, `code` is stable for programs. */
export class DialError extends Error {
  /** Stable code, e.g. `ERR_DIAL_ENDPOINT`. */
  readonly code: DialErrorCode;
  /** Upstream's failure reason; also the `reason` label of `dial_failure_total`. */
  readonly reason: DialFailureReason;
  /** For reason `endpoint`: DIAL_RSP's error text, e.g. `dial tcp 10.0.0.1:80: connect: connection refused`. */
  readonly endpointError: string | undefined;
  /** The address that was dialed. */
  readonly address: string;
  /** The dial id (`random`) that was sent. */
  readonly dialID: bigint;

  constructor(reason: DialFailureReason, message: string, details: DialErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DialError';
    this.reason = reason;
    this.code = details.code ?? CODE_BY_REASON[reason];
    this.endpointError = details.endpointError;
    this.address = details.address;
    this.dialID = details.dialID;
  }
}

/** Stable codes of errors on an established TunnelSocket or on the tunnel itself. */
export type TunnelErrorCode =
  /** The tunnel (or its gRPC stream) closed under an open connection. */
  | 'ERR_TUNNEL_CLOSED'
  /** createTunnel() could not reach the proxy server. */
  | 'ERR_TUNNEL_CONNECT'
  /** Bad options given to createTunnel() or an agent factory. */
  | 'ERR_INVALID_OPTIONS'
  /** No CLOSE_RSP within closeTimeoutMs after end(). */
  | 'ERR_CLOSE_TIMEOUT'
  /** The server closed the connection with an error text (CLOSE_RSP error). */
  | 'ERR_REMOTE_CLOSE'
  /** The gRPC stream failed under the connection. */
  | 'ERR_STREAM'
  /** The server broke the protocol on this connection's stream. */
  | 'ERR_PROTOCOL';

/** An error of the tunnel or of one of its connections. */
export class TunnelError extends Error {
  /** Stable code, e.g. `ERR_CLOSE_TIMEOUT`. */
  readonly code: TunnelErrorCode;
  constructor(code: TunnelErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TunnelError';
    this.code = code;
  }
}
