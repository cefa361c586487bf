/** Typed errors of the agent, each with a stable `code`. */

/** Stable codes of AgentError. */
export type AgentErrorCode =
  /** start(): the configuration is invalid. */
  | 'ERR_AGENT_CONFIG'
  /** A server answered Connect with an error status before its headers (e.g. authentication failed). */
  | 'ERR_SERVER_REFUSED'
  /** The server could not be reached (TCP, TLS or HTTP/2 failure; status UNAVAILABLE before headers). */
  | 'ERR_SERVER_UNAVAILABLE'
  /** A server's headers lack exactly one `serverid` or a valid `servercount`. */
  | 'ERR_SERVER_HEADERS'
  /** No headers within TIMING.handshakeTimeoutMs. */
  | 'ERR_HANDSHAKE_TIMEOUT'
  /** The connection landed on a server id the agent already holds. */
  | 'ERR_DUPLICATE_SERVER'
  /** The ServiceAccount token file could not be read. */
  | 'ERR_TOKEN_READ'
  /** The connection attempt was cancelled (agent stopping). */
  | 'ERR_CONNECT_ABORTED'
  /** Endpoint dial: no connection within the dial timeout. */
  | 'ERR_DIAL_TIMEOUT'
  /** Endpoint dial: the address is not host:port. */
  | 'ERR_DIAL_ADDRESS'
  /** Endpoint dial: the protocol is not tcp. */
  | 'ERR_DIAL_PROTOCOL'
  /** Endpoint dial: cancelled (DIAL_CLS or stream end). */
  | 'ERR_DIAL_ABORTED'
  /** Endpoint dial: refused before dialing (too many pending dials, duplicate dial id, not allowed). */
  | 'ERR_DIAL_REFUSED'
  /** Endpoint dial: the destination is not allowed for this agent. */
  | 'ERR_DIAL_NOT_ALLOWED';

/** Base class of the agent's errors. */
export class AgentError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string) {
    super(message);
    this.name = 'AgentError';
    this.code = code;
  }
}

/** The configuration handed to TunnelAgent is invalid; the message names the option. */
export class AgentConfigError extends AgentError {
  constructor(message: string) {
    super('ERR_AGENT_CONFIG', message);
    this.name = 'AgentConfigError';
  }
}

/**
 * Connect ended with an error status before the server's headers: an
 * authentication refusal (ERR_SERVER_REFUSED) or an unreachable server
 * (ERR_SERVER_UNAVAILABLE). `grpcCode` and `details` are the status.
 */
export class ServerRefusedError extends AgentError {
  constructor(
    readonly grpcCode: number,
    readonly details: string,
    codeName: string,
  ) {
    const unavailable = grpcCode === 14;
    super(
      unavailable ? 'ERR_SERVER_UNAVAILABLE' : 'ERR_SERVER_REFUSED',
      unavailable ? `cannot connect to the server: ${details}` : `server refused the connection (${codeName}): ${details}`,
    );
    this.name = 'ServerRefusedError';
  }
}

/** The new connection reached a server the agent is already connected to. */
export class DuplicateServerError extends AgentError {
  constructor(readonly serverID: string) {
    super('ERR_DUPLICATE_SERVER', `already connected to server ${serverID}`);
    this.name = 'DuplicateServerError';
  }
}

/** Details a dialer may attach to a DialError, used to word the Go-like text. */
export interface DialErrorDetails {
  /** The resolved ip:port being connected to when it failed, when known. */
  resolvedAddress?: string;
  /** True when it failed while the host name was still being resolved. */
  lookupPending?: boolean;
}

/**
 * An endpoint dial failed for a reason of our own (timeout, bad address, cancelled, refused by
 * policy). dial-errors.ts turns it into the text sent in DIAL_RSP.
 */
export class DialError extends AgentError {
  readonly details: DialErrorDetails;
  constructor(code: AgentErrorCode, message: string, details: DialErrorDetails = {}) {
    super(code, message);
    this.name = 'DialError';
    this.details = details;
  }
}
