/**
 * The relay: pending dials (one map keyed by dial id), established
 * connections (per agent stream, by connectID), and the bookkeeping both
 * packet tables share. Client packets are handled in client-handlers.ts,
 * agent packets in agent-handlers.ts.
 *
 * Flow control: agent→client packets go through each session's Outbox, so
 * the agent stream's read loop never waits for one client; client→agent
 * DATA waits for the agent stream (the shared transport) to drain.
 */
import { lazyChild, type Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { closeReq, dialCls, type Packet, PacketType, packetTypeName } from '../protocol/index.js';
import { handleAgentPacket } from './agent-handlers.js';
import { Backend, type BackendInit } from './backend.js';
import { handleClientPacket } from './client-handlers.js';
import { inOrder } from './flow-send.js';
import type { Clock } from './clock.js';
import { ServerError } from './errors.js';
import type { DialFailure, DialFailureReason, Frontend, ToClientPacket } from './frontend.js';
import type { ServerLimits } from './limits.js';
import { Outbox } from './outbox.js';
import type { BackendRegistry } from './registry.js';
import { ClientSession, type PendingDial } from './session.js';

/** What the relay is built from. */
export interface RelayOptions {
  logger: Logger;
  metrics: ServerMetrics;
  registry: BackendRegistry;
  clock: Clock;
  limits: ServerLimits;
  /** 0 = off; else a dial without DIAL_RSP in this time fails. */
  backendDialTimeoutMs: number;
  /** Packets queued per connection before it counts as full. */
  xfrChannelSize: number;
}

/** Counts that must return to zero once every client and agent is gone. */
export interface RelayStats {
  pendingDials: number;
  established: number;
  sessions: number;
}

/** Relays packets between client sessions and agent streams. */
export class Relay {
  /** Pending dials by dial id, across all agents. */
  readonly pending = new Map<bigint, PendingDial>();
  /** Open client sessions (gRPC streams and HTTP CONNECT sockets). */
  readonly sessions = new Set<ClientSession>();
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly registry: BackendRegistry;
  readonly clock: Clock;
  /** Per-packet debug lines are built only when debug logging is on. */
  readonly debug: boolean;
  private establishedCount = 0;
  private seq = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly opts: RelayOptions) {
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.registry = opts.registry;
    this.clock = opts.clock;
    this.debug = opts.logger.isLevelEnabled('debug');
  }

  // ---- client side ----

  /** Starts tracking a client connection. Call finishSession when it goes away. */
  openSession(frontend: Frontend): ClientSession {
    const seq = ++this.seq;
    const method = frontend.kind === 'grpc' ? 'Proxy' : 'CONNECT';
    const outbox = new Outbox(frontend, {
      softLimit: this.opts.xfrChannelSize,
      hardLimitBytes: this.opts.limits.queueHardLimitBytes,
      stallTimeoutMs: this.opts.limits.stallTimeoutMs,
      clock: this.clock,
      onFullChange: (full) => this.metrics.fullReceiveChannels.inc({ service_method: method }, full ? 1 : -1),
      onOverflow: (code, message) => {
        this.metrics.stream.error('to_client', code === 'ERR_CLIENT_STALLED' ? 'stalled' : 'overflow');
        s.log.warn('closing connection: client does not read', { peer: frontend.peer, code, reason: message });
        this.abortSession(s, new ServerError(code, connectionLabel(s) + message));
      },
    });
    const s = new ClientSession(seq, frontend, outbox, lazyChild(this.log, { session: seq }), this.clock.now());
    this.sessions.add(s);
    return s;
  }

  /**
   * Handles one packet from a client. The promise (if any) resolves when the
   * client may send more: the shared agent stream has room, or the
   * connection has credit again. While earlier packets of the session still
   * wait for credit, this one is handled after them.
   */
  fromClient(s: ClientSession, p: Packet): Promise<void> | void {
    if (s.finished) return;
    this.metrics.stream.packet('from_client', p.type);
    if (s.sending) return inOrder(s, s.sending.then(() => handleClientPacket(this, s, p)));
    return handleClientPacket(this, s, p);
  }

  /**
   * The client side is gone (stream ended, socket closed): cancels its
   * pending dial at the agent (DIAL_CLS), closes its connection there
   * (CLOSE_REQ) and releases everything. Idempotent.
   */
  finishSession(s: ClientSession): void {
    if (s.finished) return;
    this.releaseAtAgent(s, 'frontend_close');
    s.finished = true;
    s.state = 'done';
    s.outbox.dispose();
    this.sessions.delete(s);
    if (this.sessions.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once no client session is open (graceful shutdown waits for it). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Releases the session like finishSession and ends the client side with `err`. */
  abortSession(s: ClientSession, err: ServerError): void {
    this.finishSession(s);
    if (!s.frontend.closed) s.frontend.abort(err);
  }

  /** Refuses bad client input: log, metric, and the session alone is aborted. */
  refuseClient(s: ClientSession, reason: string, message: string): void {
    this.metrics.badInput.inc({ source: s.frontend.kind === 'grpc' ? 'client' : 'http', reason });
    s.log.warn('bad input from client', { peer: s.frontend.peer, reason, error: message });
    this.abortSession(s, new ServerError('ERR_UNEXPECTED_PACKET', message));
  }

  /**
   * Queues a packet for the client (never waits). `written` is called once it
   * has left our buffers for the client's transport (flow control grants the
   * bytes back then, so a stalled client holds at most its window here).
   */
  deliver(s: ClientSession, p: ToClientPacket, written?: () => void): void {
    this.metrics.stream.packet('to_client', p.type);
    if (this.debug) s.log.debug('packet to client', { packetType: packetTypeName(p.type) });
    const queuedAt = this.clock.now();
    s.outbox.push(p.type === PacketType.DATA ? p.data.data.length : 32, () => {
      this.metrics.frontendWriteDuration.observe((this.clock.now() - queuedAt) / 1000);
      return s.frontend.deliver(p, written);
    });
  }

  /** Fails the session's dial from the server side; the session is done. */
  failDial(s: ClientSession, random: bigint, reason: DialFailureReason, message: string): void {
    s.state = 'done';
    s.log.debug('dial failed', { reason, error: message });
    // The client gets a DIAL_RSP (or its HTTP status) from the server itself; upstream counts it too.
    this.metrics.stream.packet('to_client', PacketType.DIAL_RSP);
    const f: DialFailure = { random, reason, message };
    s.outbox.push(32, () => s.frontend.dialFailed(f));
  }

  /** Records a pending dial, starts its timeout and forwards the DIAL_REQ. */
  async startDial(s: ClientSession, backend: Backend, p: Extract<Packet, { type: 0 }>): Promise<void> {
    const { random, address } = p.dialRequest;
    const dial: PendingDial = { random, address, session: s, backend, startedAt: this.clock.now() };
    this.pending.set(random, dial);
    backend.pendingDials.add(dial);
    s.state = 'dialing';
    s.dial = dial;
    s.backend = backend;
    this.metrics.pendingBackendDials.set(this.pending.size);
    if (this.opts.backendDialTimeoutMs > 0) {
      dial.timer = this.clock.setTimeout(() => this.dialTimedOut(dial), this.opts.backendDialTimeoutMs);
    }
    s.log.debug('dial forwarded to agent', { agentID: backend.agentID, address });
    if (!backend.send(p) && !backend.stream.closed) await backend.drained();
  }

  /** Forgets a pending dial (answered, cancelled or failed). */
  removePending(dial: PendingDial): void {
    if (this.pending.get(dial.random) === dial) this.pending.delete(dial.random);
    dial.backend.pendingDials.delete(dial);
    if (dial.timer !== undefined) this.clock.clearTimeout(dial.timer);
    dial.timer = undefined;
    if (dial.session.dial === dial) dial.session.dial = undefined;
    this.metrics.pendingBackendDials.set(this.pending.size);
  }

  /** Records an established connection (agent stream, connectID) → session. */
  establish(s: ClientSession, backend: Backend, connectID: bigint): void {
    s.state = 'established';
    s.connectID = connectID;
    s.establishedAt = this.clock.now();
    s.log = s.log.child({ connectID });
    if (backend.flow) {
      s.flow = backend.flow.open(connectID);
      s.outbox.tolerateSlowReader();
    }
    backend.connections.set(connectID, s);
    backend.established(connectID);
    this.establishedCount++;
    this.metrics.establishedConnections.set(this.establishedCount);
  }

  /** Forgets an established connection (idempotent). */
  unestablish(s: ClientSession): void {
    const b = s.backend;
    s.flow?.close();
    if (!b || s.connectID === undefined || b.connections.get(s.connectID) !== s) return;
    b.connections.delete(s.connectID);
    this.establishedCount--;
    this.metrics.establishedConnections.set(this.establishedCount);
    if (s.establishedAt !== undefined) this.metrics.connectionDuration.observe((this.clock.now() - s.establishedAt) / 1000);
  }

  /** Cancels the session's pending dial at the agent or closes its connection there. */
  releaseAtAgent(s: ClientSession, reason: 'frontend_close' | 'stalled'): void {
    const b = s.backend;
    if (s.dial) {
      const random = s.dial.random;
      this.removePending(s.dial);
      this.metrics.dialFailure('frontend_close');
      b?.send(dialCls(random));
      s.log.debug('pending dial cancelled at the agent', { reason });
    } else if (b && s.connectID !== undefined && b.connections.get(s.connectID) === s) {
      this.unestablish(s);
      if (s.state === 'established') b.send(closeReq(s.connectID));
    }
    s.state = 'done';
  }

  private dialTimedOut(dial: PendingDial): void {
    dial.timer = undefined;
    if (this.pending.get(dial.random) !== dial) return;
    const s = dial.session;
    this.removePending(dial);
    this.metrics.dialFailure('backend_dial_timeout');
    dial.backend.send(dialCls(dial.random));
    s.log.info('backend dial timed out', { agentID: dial.backend.agentID, address: dial.address });
    this.failDial(s, dial.random, 'backend_dial_timeout', 'timed out waiting for backend dial');
  }

  // ---- agent side ----

  /** Builds and registers an agent stream. */
  addBackend(init: Omit<BackendInit, 'seq' | 'metrics' | 'connectedAt'>): Backend {
    const b = new Backend({ ...init, seq: ++this.seq, metrics: this.metrics.stream, connectedAt: this.clock.now() });
    this.registry.add(b);
    return b;
  }

  /** Handles one packet from an agent stream; never waits for a client. */
  fromAgent(b: Backend, p: Packet): void {
    this.metrics.stream.packet('from_agent', p.type);
    handleAgentPacket(this, b, p);
  }

  /**
   * The agent stream ended: unregisters it, fails its pending dials at once
   * and sends CLOSE_RSP to every client connected through it.
   */
  removeBackend(b: Backend): void {
    this.registry.remove(b);
    b.flow?.close();
    const why = `agent "${b.agentID}" disconnected`;
    for (const dial of [...b.pendingDials]) {
      this.removePending(dial);
      this.metrics.dialFailure('backend_close');
      this.failDial(dial.session, dial.random, 'agent_lost', `${why} before the dial completed`);
    }
    for (const [connectID, s] of [...b.connections]) {
      this.unestablish(s);
      s.state = 'done';
      this.deliver(s, { type: 3, closeResponse: { connectID, error: why } });
    }
  }

  // ---- whole relay ----

  /** Ends every client session with `err` (shutdown). Agent streams are closed by their owner. */
  abortAll(err: ServerError): void {
    for (const s of [...this.sessions]) this.abortSession(s, err);
  }

  /** Current counts. */
  stats(): RelayStats {
    return { pendingDials: this.pending.size, established: this.establishedCount, sessions: this.sessions.size };
  }
}

function connectionLabel(s: ClientSession): string {
  return s.connectID !== undefined ? `connection ${s.connectID} closed: ` : 'dial closed: ';
}
