/**
 * Bounds on what one endpoint connection may hold in memory. Upstream servers
 * have no per-connection flow control towards the agent, so the agent never
 * blocks the shared stream on one socket: it queues up to a bound and closes a
 * connection that stays over it (see endpoint-conn.ts).
 */
import { TIMING } from './defaults.js';

/** Limits applied to each endpoint connection and each server stream. */
export interface ConnectionLimits {
  /** Soft bound on server→endpoint DATA packets queued for a socket that is not draining (xfrChannelSize). */
  maxQueuedPackets: number;
  /** Soft bound on the bytes of those packets. */
  maxQueuedBytes: number;
  /** Over the soft bound × this factor, the connection is closed at once (memory stays bounded). */
  hardLimitFactor: number;
  /** Over the soft bound for longer than this, the connection is closed. */
  stallTimeoutMs: number;
  /** Largest payload of one endpoint→server DATA packet. */
  readChunkBytes: number;
  /** Dials in progress per server stream; more are refused with a DIAL_RSP error. */
  maxPendingDials: number;
  /** After CLOSE_REQ, how long the endpoint socket may linger to take queued bytes. */
  closeLingerMs: number;
}

/** Soft bound on queued bytes per connection: 64 packets of the 64 KiB a server of ours reads at most. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/**
 * Payload size of endpoint→server DATA packets: a whole socket read, which
 * the default dialer lets be up to this size (Node reads at most 64 KiB at
 * a time otherwise; see dialer.ts). Upstream reads 32 KiB. Fewer, larger
 * messages cost every hop less per byte, measured: 32 → 64 KiB, one-tunnel
 * downloads through the gRPC frontend 206–220 → 230–242 MiB/s; 64 → 256 KiB,
 * medians of 4 alternated 256 MiB downloads 310 → 364 MiB/s, server CPU
 * 1.9–2.5 → 1.6–1.9 ms per MiB. Any peer takes it (gRPC's default limit is
 * 4 MiB); the flow-control window (1 MiB) still holds four.
 */
export const READ_CHUNK_BYTES = 256 * 1024;
/** Dials in progress per server stream. */
export const MAX_PENDING_DIALS = 1024;
/**
 * Our receive window per connection with a flow-controlled server
 * (proto/tunnel/v1/flow.proto): server→endpoint bytes one connection may hold
 * in the agent (queued or in the socket's buffer) before the server waits for
 * a grant. It replaces the queue bounds and the stall close for such servers.
 */
export const FLOW_WINDOW_BYTES = 1024 * 1024;
/**
 * How far one connection's receive window may grow while the server is
 * blocked on it and the endpoint takes the bytes as fast as they come
 * (src/transport/flow-control.ts): the most server→endpoint bytes one
 * connection can ever hold in the agent. With the window fixed at 1 MiB the
 * server waited for credit during about a third of a 256 MiB upload through
 * the gRPC frontend (its waits timed in a throwaway build); see
 * src/transport/FLOW-CONTROL.md.
 */
export const FLOW_MAX_WINDOW_BYTES = 4 * 1024 * 1024;

/** The limits for a given --xfr-channel-size. */
export function connectionLimits(xfrChannelSize: number): ConnectionLimits {
  return {
    maxQueuedPackets: xfrChannelSize,
    maxQueuedBytes: MAX_QUEUED_BYTES,
    hardLimitFactor: 4,
    stallTimeoutMs: TIMING.endpointStallTimeoutMs,
    readChunkBytes: READ_CHUNK_BYTES,
    maxPendingDials: MAX_PENDING_DIALS,
    closeLingerMs: TIMING.closeLingerMs,
  };
}
