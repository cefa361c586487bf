/**
 * What the relay needs from the client side of one connection. A gRPC Proxy
 * stream (grpc-frontend.ts) and an HTTP CONNECT socket (http-connect.ts)
 * both implement it, so the relay logic is written once.
 */
import type { CloseRspPacket, DataPacket, DialClsPacket, DialRspPacket } from '../protocol/index.js';
import type { ServerError } from './errors.js';

/** Packets the relay hands to a client: the agent's, forwarded unchanged, or the server's own CLOSE_RSP. */
export type ToClientPacket = DialRspPacket | DataPacket | CloseRspPacket | DialClsPacket;

/** Why the server itself failed a dial (an agent's DIAL_RSP error is forwarded as a packet instead). */
export type DialFailureReason =
  /** No strategy found an agent. */
  | 'no_agent'
  /** The dial could not be routed (bad address). */
  | 'bad_request'
  /** The client reused a dial id that is still pending. */
  | 'dial_id_in_use'
  /** The agent stream ended before answering. */
  | 'agent_lost'
  /** No answer within backendDialTimeoutMs. */
  | 'backend_dial_timeout'
  /** The agent answered with a connection ID it already uses. */
  | 'agent_error'
  /** The server is shutting down. */
  | 'shutdown';

/** A dial failed by the server. */
export interface DialFailure {
  /** The dial id of the failed DIAL_REQ. */
  random: bigint;
  reason: DialFailureReason;
  /** Human-readable; gRPC clients get it as the DIAL_RSP error. */
  message: string;
}

/** The client side of one tunnelled connection. */
export interface Frontend {
  /** Which frontend kind (metric labels, logs). */
  readonly kind: 'grpc' | 'http';
  /** The client, for logs. */
  readonly peer: string;
  /** True once the client side is gone; the relay then drops what it still holds. */
  readonly closed: boolean;
  /**
   * Hands one packet to the client. Returns false when the transport buffer
   * is full (the packet is still taken): the relay then waits for drained().
   * `written` runs once it has left our buffers for the client's transport
   * (flow-control grants wait for that), not when the client is gone.
   */
  deliver(p: ToClientPacket, written?: () => void): boolean;
  /** Tells the client the server failed its dial. Same return value as deliver(). */
  dialFailed(f: DialFailure): boolean;
  /** Resolves when the transport has room again, or the client is gone. */
  drained(): Promise<void>;
  /** Ends the client side with this error (stalled reader, bad input, shutdown). */
  abort(err: ServerError): void;
}
