/**
 * The state of one server stream that the packet handlers (handlers.ts) and
 * the dial logic (dial.ts) work on. StreamSession implements it.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Packet } from '../protocol/index.js';
import type { AgentClock } from './clock.js';
import type { EndpointDialer } from './dialer.js';
import type { EndpointConn } from './endpoint-conn.js';
import type { ConnectionLimits } from './limits.js';

/** A dial in progress on a stream, keyed by its dial id (`random`). */
export interface PendingDial {
  random: bigint;
  connectID: bigint;
  address: string;
  protocol: string;
  /** clock ms at the DIAL_REQ. */
  startedAt: number;
  controller: AbortController;
  /** Guard timer: fails the dial if the dialer ignores its timeout. */
  timer: unknown;
  /** Set once the dial's outcome is decided (answered, cancelled, or the stream closed); later results are dropped. */
  settled: boolean;
  /** Child logger with dialID. */
  log: Logger;
}

/** What the handlers of one server stream can see and do. */
export interface SessionContext {
  /** Child logger with serverID. */
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  readonly limits: ConnectionLimits;
  readonly clock: AgentClock;
  readonly dialer: EndpointDialer;
  readonly dialTimeoutMs: number;
  /** Established connections by connectID. */
  readonly conns: Map<bigint, EndpointConn>;
  /** Dials in progress by dial id. */
  readonly pending: Map<bigint, PendingDial>;
  /** Dial id → connectID of established connections (for DIAL_CLS after the dial completed). */
  readonly byRandom: Map<bigint, bigint>;
  /** True once the stream is closing: results of late dials are dropped. */
  readonly closed: boolean;
  /** The next connectID of this stream (pre-increment, the first is 1). */
  nextConnectID(): bigint;
  /** Writes a packet to the server; false on backpressure or when closed. */
  send(p: Packet): boolean;
  /** Registers a connected endpoint socket for a dial and returns its connection (not yet started). */
  adopt(socket: Duplex, dial: PendingDial): EndpointConn;
  /** Counts and logs (debug) a packet refused as bad input. */
  badInput(reason: string, fields?: Record<string, unknown>): void;
}
