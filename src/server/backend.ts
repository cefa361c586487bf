/**
 * One agent stream (an AgentService.Connect call) as the relay sees it: who
 * the agent is, the PacketStream to it, and the dials and connections that
 * depend on it.
 */
import type { Logger } from '../observability/logger.js';
import type { StreamMetrics } from '../observability/metrics.js';
import type { AgentIdentifiers, Packet } from '../protocol/index.js';
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

  /** Writes a packet to the agent. False: the stream is full (wait for drained()) or closed. */
  send(p: Packet): boolean {
    if (this.stream.closed) {
      this.metrics.error('to_agent', 'Unavailable', p.type);
      return false;
    }
    this.metrics.packet('to_agent', p.type);
    return this.stream.write(p);
  }

  /** One shared wait for the agent stream to take more (many clients may wait at once). */
  drained(): Promise<void> {
    this.drainWait ??= this.stream.drained().finally(() => {
      this.drainWait = undefined;
    });
    return this.drainWait;
  }
}
