/**
 * Typed errors of the server role. The `code` strings are stable: tests,
 * logs and metric labels use them.
 */

/** Stable codes of ServerError. */
export type ServerErrorCode =
  /** No strategy found an agent for the dial. */
  | 'ERR_NO_AGENT'
  /** A strategy could not judge the dial (e.g. the address is not host:port). */
  | 'ERR_BAD_DIAL_ADDRESS'
  /** A DIAL_REQ reused a `random` that is already pending. */
  | 'ERR_DIAL_ID_IN_USE'
  /** The first packet of a Proxy stream was not DIAL_REQ, or a second DIAL_REQ came. */
  | 'ERR_UNEXPECTED_PACKET'
  /** The client did not read what its agent sent, for too long. */
  | 'ERR_CLIENT_STALLED'
  /** The client's receive queue passed the hard byte bound. */
  | 'ERR_QUEUE_OVERFLOW'
  /** The agent stream ended while a dial or connection depended on it. */
  | 'ERR_AGENT_LOST'
  /** A flow-controlled agent sent more DATA for a connection than its credit. */
  | 'ERR_FLOW_CREDIT'
  /** The agent answered a DIAL_REQ with a connection ID it already uses. */
  | 'ERR_DUPLICATE_CONNECT_ID'
  /** No DIAL_RSP within backendDialTimeoutMs. */
  | 'ERR_BACKEND_DIAL_TIMEOUT'
  /** Connect metadata is missing or malformed. */
  | 'ERR_BAD_METADATA'
  /** The server is shutting down. */
  | 'ERR_SHUTTING_DOWN'
  /** The configuration cannot work (missing certificate, bad port). */
  | 'ERR_BAD_CONFIG';

/** An error of the server role with a stable code. */
export class ServerError extends Error {
  readonly code: ServerErrorCode;
  constructor(code: ServerErrorCode, message: string) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
  }
}
