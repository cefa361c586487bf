/**
 * One Connect stream to one server: the receive loop, the connectID
 * counter, the endpoint connections and dials of that stream. Losing the
 * stream closes exactly what belongs to it.
 */
import * as grpc from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { drain, type Packet, packetTypeName, ProtocolError } from '../protocol/index.js';
import type { PacketStream } from '../transport/packet-stream.js';
import { StreamClosedError } from '../transport/packet-stream.js';
import type { AgentClock } from './clock.js';
import { abortAllDials } from './dial.js';
import type { EndpointDialer } from './dialer.js';
import { EndpointConn } from './endpoint-conn.js';
import { grpcCodeName } from './grpc-options.js';
import { dispatchPacket } from './handlers.js';
import type { AgentFlow } from './flow-negotiation.js';
import type { ConnectionLimits } from './limits.js';
import type { PendingDial, SessionContext } from './session-context.js';

/** What a StreamSession needs. */
export interface StreamSessionOptions {
  stream: PacketStream;
  serverID: string;
  dialer: EndpointDialer;
  dialTimeoutMs: number;
  limits: ConnectionLimits;
  clock: AgentClock;
  /** Child logger with serverID. */
  logger: Logger;
  metrics: AgentMetrics;
  /** Per-connection flow control, when the server confirmed it; its Credits stream is read while serving. */
  flow?: AgentFlow;
}

/** One endpoint connection as the admin view shows it. */
export interface EndpointConnInfo {
  connectID: string;
  address: string;
  queuedPackets: number;
  queuedBytes: number;
  /** With flow control: our receive window for it now (the announced one, or more once grown). */
  flowWindowBytes?: number;
  openForMs: number;
}

/** Serves the packets of one server stream. */
export class StreamSession implements SessionContext {
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  readonly limits: ConnectionLimits;
  readonly clock: AgentClock;
  readonly dialer: EndpointDialer;
  readonly dialTimeoutMs: number;
  readonly conns = new Map<bigint, EndpointConn>();
  readonly pending = new Map<bigint, PendingDial>();
  readonly byRandom = new Map<bigint, bigint>();
  readonly serverID: string;
  private readonly lingering = new Set<EndpointConn>();
  private readonly stream: PacketStream;
  private readonly flow: AgentFlow | undefined;
  private counter = 0n;
  private isClosed = false;
  private downlinkAttached = false;
  private serving: Promise<string> | undefined;

  constructor(o: StreamSessionOptions) {
    this.stream = o.stream;
    this.serverID = o.serverID;
    this.dialer = o.dialer;
    this.dialTimeoutMs = o.dialTimeoutMs;
    this.limits = o.limits;
    this.clock = o.clock;
    this.log = o.logger;
    this.metrics = o.metrics;
    this.flow = o.flow;
  }

  /** True when the server confirmed per-connection flow control. */
  get flowControlled(): boolean {
    return this.flow !== undefined;
  }

  /** True once the server attached the Downlink stream (a second connection for server→agent bytes). */
  get downlink(): boolean {
    return this.downlinkAttached;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Endpoint connections and dials in progress on this stream. */
  stats(): { endpointConnections: number; pendingDials: number } {
    return { endpointConnections: this.conns.size, pendingDials: this.pending.size };
  }

  /** The established connections, for the admin view. */
  connections(): EndpointConnInfo[] {
    const now = this.clock.now();
    return [...this.conns.values()].map((c) => ({
      connectID: c.connectID.toString(),
      address: c.address,
      queuedPackets: c.queued.packets,
      queuedBytes: c.queued.bytes,
      ...(c.flowWindow !== undefined ? { flowWindowBytes: c.flowWindow } : {}),
      openForMs: now - c.openedAt,
    }));
  }

  /**
   * Runs the receive loop until the stream ends, then closes everything of
   * this stream. Resolves with the reason; never rejects. Calling it again
   * returns the same promise.
   */
  serve(): Promise<string> {
    if (!this.serving && this.flow) {
      // Without its Credits stream a flow-controlled stream would starve: losing it closes the stream.
      void this.flow.run().then((why) => {
        if (!this.isClosed) {
          this.log.warn('flow-control stream lost; closing the server stream', { reason: why });
          this.close(why);
        }
      });
    }
    if (!this.serving && this.flow?.downlink) void this.flow.downlink.then((d) => this.serveDownlink(d));
    this.serving ??= this.receiveLoop();
    return this.serving;
  }

  /** Reads the Downlink stream once attached; losing it closes this stream (its connections' bytes were on it). */
  private async serveDownlink(d: PacketStream | string): Promise<void> {
    if (typeof d === 'string') {
      if (!this.isClosed) {
        this.log.info('server-to-agent bytes stay on the Connect stream: the second connection was refused', { reason: d });
      }
      return;
    }
    if (this.isClosed) {
      d.close();
      return;
    }
    this.downlinkAttached = true;
    this.log.debug('server-to-agent bytes of new connections use a second connection (Downlink)');
    const why = await this.readPackets(d, 'Downlink stream ended by server');
    if (!this.isClosed) {
      this.log.warn('Downlink stream lost; closing the server stream', { reason: why });
      this.close(`Downlink: ${why}`);
    }
  }

  nextConnectID(): bigint {
    return ++this.counter;
  }

  send(p: Packet): boolean {
    if (this.isClosed) return false;
    this.metrics.stream.packet('from_agent', p.type); // upstream's segment for agent→server
    return this.stream.write(p);
  }

  /** Tells the server this agent is draining (DRAIN with its empty submessage). */
  sendDrain(): void {
    this.send(drain());
  }

  adopt(socket: Duplex, dial: PendingDial): EndpointConn {
    const conn = new EndpointConn({
      connectID: dial.connectID,
      random: dial.random,
      address: dial.address,
      socket,
      sink: { send: (p) => this.send(p), drained: () => this.stream.drained() },
      ...(this.flow ? { flow: this.flow.link.open(dial.connectID) } : {}),
      onBadInput: (reason) => this.badInput(reason, { connectID: dial.connectID }),
      limits: this.limits,
      clock: this.clock,
      log: this.log.child({ connectID: dial.connectID, dialID: dial.random }),
      onClosed: (c) => {
        if (this.conns.get(c.connectID) === c) {
          this.conns.delete(c.connectID);
          this.byRandom.delete(c.random);
          this.metrics.openEndpointConnections.dec();
        }
        this.lingering.add(c);
      },
      onReleased: (c) => this.lingering.delete(c),
    });
    this.conns.set(dial.connectID, conn);
    this.byRandom.set(dial.random, dial.connectID);
    this.metrics.openEndpointConnections.inc();
    return conn;
  }

  badInput(reason: string, fields: Record<string, unknown> = {}): void {
    this.metrics.badInput.inc({ reason });
    this.log.debug('bad input from server ignored', { reason, ...fields });
  }

  /**
   * Closes the stream (a cancel, so the server sees it end) and everything
   * on it. Safe to call at any time, more than once.
   */
  close(why = 'closed by agent'): void {
    if (!this.stream.closed) this.stream.close({ code: grpc.status.CANCELLED, message: why });
    this.shutdown(why);
  }

  private async receiveLoop(): Promise<string> {
    const why = await this.readPackets(this.stream, 'stream ended by server');
    if (!this.stream.closed) this.stream.close();
    this.shutdown(why);
    return why;
  }

  /** Dispatches the packets of `stream` until it ends; resolves with why (never rejects). */
  private async readPackets(stream: PacketStream, endedWhy: string): Promise<string> {
    let why = endedWhy;
    const debug = this.log.isDebugEnabled();
    try {
      for await (const p of stream) {
        this.metrics.stream.packet('to_agent', p.type); // upstream's segment for server→agent
        if (debug) this.log.debug('packet from server', { type: packetTypeName(p.type) });
        try {
          dispatchPacket(this, p);
        } catch (e) {
          this.log.error('packet handler failed', { type: packetTypeName(p.type), error: (e as Error).message });
        }
      }
    } catch (e) {
      if (e instanceof ProtocolError) {
        why = `malformed packet from server: ${e.message}`;
        this.metrics.badInput.inc({ reason: e.code });
        this.metrics.stream.error('to_agent', 'InvalidArgument');
        this.log.warn('malformed packet from server; closing the stream', { error: e.message, code: e.code });
      } else if (e instanceof StreamClosedError) {
        why = `stream error: ${e.message}`;
        if (!this.isClosed) {
          this.metrics.stream.error('to_agent', grpcCodeName(e.grpcCode));
          this.metrics.serverConnectionFailures.inc({ direction: 'from_server' });
        }
      } else {
        why = `stream error: ${(e as Error).message}`;
      }
    }
    return why;
  }

  private shutdown(why: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.flow?.close();
    abortAllDials(this);
    for (const c of [...this.conns.values()]) c.abort(why);
    for (const c of [...this.lingering]) c.abort(why);
  }
}
