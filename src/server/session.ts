/**
 * One client connection as the relay tracks it: a gRPC Proxy stream or an
 * HTTP CONNECT socket, carrying exactly one dial and at most one
 * connection (upstream's single-use rule).
 */
import type { Logger } from '../observability/logger.js';
import type { ConnFlow } from '../transport/flow-control.js';
import type { Backend } from './backend.js';
import type { TimerHandle } from './clock.js';
import type { Frontend } from './frontend.js';
import type { Outbox } from './outbox.js';

/**
 * Life of a session:
 * - new: nothing received yet (the first packet must be DIAL_REQ);
 * - dialing: DIAL_REQ forwarded, waiting for the agent's DIAL_RSP;
 * - established: the agent dialed, DATA flows;
 * - closing: the client's CLOSE_REQ was forwarded, waiting for CLOSE_RSP;
 * - done: no connection any more; later client packets are ignored until the client ends.
 */
export type SessionState = 'new' | 'dialing' | 'established' | 'closing' | 'done';

/** A DIAL_REQ forwarded to an agent and not answered yet. */
export interface PendingDial {
  readonly random: bigint;
  readonly address: string;
  readonly session: ClientSession;
  readonly backend: Backend;
  /** Clock time the DIAL_REQ was forwarded. */
  readonly startedAt: number;
  /** The backend dial timeout, when configured. */
  timer?: TimerHandle;
}

/** Relay state of one client connection. */
export class ClientSession {
  state: SessionState = 'new';
  /** Dial id of the session's DIAL_REQ. */
  random: bigint | undefined;
  /** Dial address of the session's DIAL_REQ. */
  address: string | undefined;
  /** While dialing. */
  dial: PendingDial | undefined;
  /** The agent stream chosen at dial time. */
  backend: Backend | undefined;
  /** The connection ID the agent assigned (set once established; the client is locked to it). */
  connectID: bigint | undefined;
  /** Clock time the connection was established. */
  establishedAt: number | undefined;
  /** The connection's credits, when its agent stream is flow-controlled. */
  flow: ConnFlow | undefined;
  /**
   * Client packets still waiting for credit (flow-send.ts); later client
   * packets of this session are handled after it, in order.
   */
  sending: Promise<void> | undefined;
  /** True once the relay released everything of this session. */
  finished = false;
  /** Child logger; gains dialID and connectID as they become known. */
  log: Logger;

  constructor(
    /** Unique per server process, for logs and the admin view. */
    readonly seq: number,
    readonly frontend: Frontend,
    readonly outbox: Outbox,
    logger: Logger,
    /** Clock time the session opened. */
    readonly openedAt: number,
  ) {
    this.log = logger;
  }
}
