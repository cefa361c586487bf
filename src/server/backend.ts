/**
 * One agent stream (an AgentService.Connect call) as the relay sees it: who
 * the agent is, the PacketStream to it, and the dials and connections that
 * depend on it.
 */
import type { Logger } from '../observability/logger.js';
import type { StreamMetrics } from '../observability/metrics.js';
import { type AgentIdentifiers, type Packet, PacketType } from '../protocol/index.js';
import type { FlowLink } from '../transport/flow-control.js';
import type { PacketStream } from '../transport/packet-stream.js';
import type { AgentIdentity } from './auth/types.js';
import type { ClientSession, PendingDial } from './session.js';

/** Everything known about an agent stream when it is registered. */
export interface BackendInit {
  /** Unique per server process; tells apart several streams of one agent. */
  seq: number;
  agentID: string;
  /** The raw `agentidentifiers` value, for the admin view. */
  identifiersText: string;
  identifiers: AgentIdentifiers;
  identity: AgentIdentity;
  stream: PacketStream;
  /** Child logger carrying agentID. */
  logger: Logger;
  metrics: StreamMetrics;
  /** Clock time of registration. */
  connectedAt: number;
  /** Per-connection flow control, when the agent negotiated it (flow-streams.ts). */
  flow?: FlowLink;
}

/** An agent stream with its pending dials and established connections. */
export class Backend {
  readonly seq: number;
  readonly agentID: string;
  readonly identifiersText: string;
  readonly identifiers: AgentIdentifiers;
  readonly identity: AgentIdentity;
  readonly stream: PacketStream;
  readonly log: Logger;
  readonly connectedAt: number;
  /** Per-connection credits; undefined for an upstream agent. */
  readonly flow: FlowLink | undefined;
  /** Set by DRAIN: prefer other agents for new dials. */
  draining = false;
  /** Established connections on this stream, by the connectID the agent assigned. */
  readonly connections = new Map<bigint, ClientSession>();
  /** Dials sent to this stream and not answered yet. */
  readonly pendingDials = new Set<PendingDial>();
  private readonly metrics: StreamMetrics;
  private drainWait: Promise<void> | undefined;
  /**
   * The agent's Downlink stream, once attached (flow-streams.ts): the DATA
   * and CLOSE_REQ of connections established from then on go there, so a
   * connection's packets never change streams (and stay in order).
   */
  private downlinkStream: PacketStream | undefined;
  /** Connections whose server→agent packets go on the Downlink stream. */
  private readonly onDownlink = new Set<bigint>();

  constructor(init: BackendInit) {
    this.seq = init.seq;
    this.agentID = init.agentID;
    this.identifiersText = init.identifiersText;
    this.identifiers = init.identifiers;
    this.identity = init.identity;
    this.stream = init.stream;
    this.log = init.logger;
    this.connectedAt = init.connectedAt;
    this.metrics = init.metrics;
    this.flow = init.flow;
  }

  /** True once the agent's Downlink stream is attached. */
  get downlink(): boolean {
    return this.downlinkStream !== undefined;
  }

  /** Connections established from now on send their server→agent packets on `stream`. */
  attachDownlink(stream: PacketStream): void {
    this.downlinkStream ??= stream;
  }

  /** A connection is established: it takes the Downlink stream if one is attached. */
  established(connectID: bigint): void {
    if (this.downlinkStream) this.onDownlink.add(connectID);
  }

  /** The agent closed a connection (CLOSE_RSP): nothing more is sent for it. */
  closedByAgent(connectID: bigint): void {
    this.onDownlink.delete(connectID);
  }

  /** Writes a packet to the agent. False: the stream is full (wait for drained()) or closed. */
  send(p: Packet): boolean {
    if (this.stream.closed) {
      this.metrics.error('to_agent', 'Unavailable', p.type);
      return false;
    }
    this.metrics.packet('to_agent', p.type);
    const down = this.downlinkStream;
    if (down && this.onDownlink.size > 0) {
      if (p.type === PacketType.DATA && this.onDownlink.has(p.data.connectID)) return down.write(p);
      if (p.type === PacketType.CLOSE_REQ && this.onDownlink.delete(p.closeRequest.connectID)) {
        // The connection's last packet from us; it follows its DATA on the same stream.
        return down.write(p);
      }
    }
    return this.stream.write(p);
  }

  /** One shared wait until the agent's streams take more (many clients may wait at once). */
  drained(): Promise<void> {
    const down = this.downlinkStream;
    this.drainWait ??= (down ? Promise.all([this.stream.drained(), down.drained()]) : this.stream.drained())
      .then(() => undefined)
      .finally(() => {
        this.drainWait = undefined;
      });
    return this.drainWait;
  }
}
