/**
 * ProxyConnection: the client's side of one Proxy stream, which carries
 * exactly one dial and, if it succeeds, one connection (upstream's
 * single-use rule: a stream is never reused for a second dial).
 *
 * One read loop per stream pulls packets only while someone wants them:
 * during the dial, while the socket's reader asks for data, and while
 * closing. A paused reader therefore leaves packets in gRPC's buffers and
 * HTTP/2 flow control pushes back on the server; nothing piles up here.
 *
 * States: dialing -> established -> closing (end() sent CLOSE_REQ) ->
 * draining (we are done: half-closed, discarding what still arrives until
 * the server ends the stream) -> done (stream finished, resources freed).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { ClientMetrics } from '../observability/metrics.js';
import {
  closeReq,
  data,
  dialCls,
  dialReq,
  type Packet,
  PacketType,
  ProtocolError,
  TEXT,
} from '../protocol/index.js';
import { isContinuation } from '../transport/grpc-messages.js';
import { type PacketStream, StreamClosedError } from '../transport/packet-stream.js';
import { ConnectionStatusGauge } from './conn-status.js';
import { MAX_DATA_CHUNK } from './defaults.js';
import { DialError, type DialErrorDetails, type DialFailureReason, TunnelError } from './errors.js';
import type { ClientTimers, DialOptions } from './options.js';

/** Where an established connection delivers what arrives; implemented by TunnelSocket. */
export interface ConnectionSink {
  /** A DATA payload, in order. Returns false to stop reading until resume(). */
  onData(chunk: Buffer): boolean;
  /** The server closed the connection cleanly (CLOSE_RSP): no more data. */
  onEnd(): void;
  /** The connection is gone: with an error, or without one when the tunnel was closed. */
  onError(err: TunnelError | undefined): void;
}

/** What a ProxyConnection needs from its tunnel. */
export interface ConnectionDeps {
  /** The dialed "host:port". */
  address: string;
  /** The dial id sent in DIAL_REQ. */
  dialID: bigint;
  /** Parent logger; the connection logs through a child with dialID and connectID. */
  logger: Logger;
  /** Client metrics, if any. */
  metrics: ClientMetrics | undefined;
  /** Timers for the dial backstop, the dial deadline and close waits. */
  timers: ClientTimers;
  /** Wait for CLOSE_RSP, and for the server to end a stream we half-closed. */
  closeTimeoutMs: number;
}

type State = 'dialing' | 'established' | 'closing' | 'draining' | 'done';

interface PendingDial {
  resolve(connectID: bigint): void;
  reject(err: DialError): void;
  cleanup(): void;
}

interface PendingClose {
  resolve(): void;
  reject(err: TunnelError): void;
}

type Handlers = { [T in PacketType]: (p: Extract<Packet, { type: T }>) => void };

/** One Proxy stream: one dial, one connection. */
export class ProxyConnection {
  /** The connectID from DIAL_RSP; 0 until connected. */
  connectID = 0n;
  /** Resolves once the stream is finished and every resource of this connection is released. */
  readonly finished: Promise<void>;
  private state: State = 'dialing';
  private log: Logger;
  private sink: ConnectionSink | undefined;
  private demand = false;
  private transportGone = false;
  private remoteEnded = false;
  private sawPacket = false;
  private wake: (() => void) | undefined;
  private pendingDial: PendingDial | undefined;
  private pendingClose: PendingClose | undefined;
  private closeTimer: unknown;
  private teardownTimer: unknown;
  private readonly status: ConnectionStatusGauge;
  private readonly handlers: Handlers = {
    [PacketType.DIAL_REQ]: (p) => this.unexpected(p.type),
    [PacketType.DIAL_RSP]: (p) => this.onDialRsp(p.dialResponse),
    [PacketType.CLOSE_REQ]: (p) => this.unexpected(p.type),
    [PacketType.CLOSE_RSP]: (p) => this.onCloseRsp(p.closeResponse),
    [PacketType.DATA]: (p) => this.onData(p.data),
    [PacketType.DIAL_CLS]: (p) => this.onDialCls(p.closeDial),
    [PacketType.DRAIN]: (p) => this.unexpected(p.type),
  };

  constructor(
    private readonly stream: PacketStream,
    private readonly deps: ConnectionDeps,
  ) {
    this.log = deps.logger.child({ dialID: deps.dialID });
    this.status = new ConnectionStatusGauge(deps.metrics);
    this.status.set('created');
    // A transport failure must be noticed even while the reader is paused.
    void stream.done.then(() => {
      this.transportGone = true;
      this.wakeReader();
    });
    this.finished = this.readLoop();
  }

  /** Sends DIAL_REQ and resolves with the connectID, or rejects with a DialError. */
  dial(dialTimeoutMs: number, opts: DialOptions = {}): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      const { timers } = this.deps;
      const handles: unknown[] = [];
      const signal = opts.signal;
      const onAbort = (): void =>
        this.failDial('context', TEXT.clientContext, { cause: signal?.reason }, true);
      this.pendingDial = {
        resolve,
        reject,
        cleanup: () => {
          for (const h of handles) timers.clearTimeout(h);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      this.send(dialReq(this.deps.address, this.deps.dialID));
      this.status.set('dialing');
      handles.push(timers.setTimeout(() => this.failDial('timeout', TEXT.clientBackstop, {}, true), dialTimeoutMs));
      if (opts.timeoutMs !== undefined) {
        handles.push(timers.setTimeout(() => this.failDial('context', TEXT.clientContext, {}, true), opts.timeoutMs));
      }
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** True while the connection is open (dialed, not closing or closed). */
  get isEstablished(): boolean {
    return this.state === 'established';
  }

  /** Connects the established connection to its socket. */
  attach(sink: ConnectionSink): void {
    this.sink = sink;
  }

  /** The reader wants more data. */
  resume(): void {
    this.demand = true;
    this.wakeReader();
  }

  /**
   * Sends bytes as DATA packets of at most MAX_DATA_CHUNK bytes, waiting for
   * the stream to drain when its buffer is full. Bytes written after the
   * server closed the connection (CLOSE_RSP) are dropped, as a TCP peer that
   * is gone would drop them.
   */
  async write(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; off += MAX_DATA_CHUNK) {
      if (this.state !== 'established' || this.stream.closed) {
        if (this.remoteEnded) return;
        throw new TunnelError('ERR_TUNNEL_CLOSED', TEXT.clientTunnelClosed);
      }
      if (!this.send(data(this.connectID, chunk.subarray(off, off + MAX_DATA_CHUNK)))) {
        await this.stream.drained();
      }
    }
  }

  /**
   * Closes the connection like upstream's conn.Close(): CLOSE_REQ, then wait
   * for CLOSE_RSP (data arriving meanwhile is still delivered). Rejects with
   * "close timeout" after closeTimeoutMs, or with the CLOSE_RSP's error text.
   */
  close(): Promise<void> {
    if (this.state !== 'established') return Promise.resolve();
    this.state = 'closing';
    this.status.set('closing');
    this.send(closeReq(this.connectID));
    return new Promise<void>((resolve, reject) => {
      this.pendingClose = { resolve, reject };
      this.closeTimer = this.deps.timers.setTimeout(() => {
        this.log.debug('no CLOSE_RSP in time', { timeoutMs: this.deps.closeTimeoutMs });
        this.settleClose(new TunnelError('ERR_CLOSE_TIMEOUT', TEXT.clientCloseTimeout));
        this.drain(true);
      }, this.deps.closeTimeoutMs);
      this.wakeReader();
    });
  }

  /**
   * Gives up on the connection at once (socket destroyed): DIAL_CLS for a
   * pending dial, CLOSE_REQ for an open connection, then half-close.
   */
  abort(): void {
    switch (this.state) {
      case 'dialing':
        this.failDial('tunnelclosed', TEXT.clientTunnelClosed, {}, true);
        return;
      case 'established':
        this.send(closeReq(this.connectID));
        this.drain(false);
        return;
      case 'closing':
        this.pendingClose = undefined; // the socket is gone; nobody waits for the answer
        this.drain(false);
        return;
      default:
        return;
    }
  }

  /** The tunnel is closing: the socket (if any) is destroyed, a pending dial fails with `tunnelclosed`. */
  shutdown(): void {
    if (this.sink && (this.state === 'established' || this.state === 'closing')) this.sink.onError(undefined);
    this.abort();
  }

  // ------------------------------------------------------------ reading

  private async readLoop(): Promise<void> {
    const it = this.stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (!this.wantsPackets()) await new Promise<void>((r) => (this.wake = r));
        if (!this.wantsPackets()) continue;
        const r = await it.next();
        if (r.done) {
          this.onStreamEnd(undefined);
          return;
        }
        this.sawPacket = true;
        if (!isContinuation(r.value)) this.deps.metrics?.stream.packet('to_client', r.value.type);
        (this.handlers[r.value.type] as (p: Packet) => void)(r.value);
      }
    } catch (e) {
      this.onStreamEnd(e);
    } finally {
      this.state = 'done';
      this.clearTimers();
      this.status.set(undefined);
      this.log.debug('proxy stream finished');
    }
  }

  private wantsPackets(): boolean {
    return this.state !== 'established' || this.demand || this.transportGone;
  }

  private wakeReader(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  // ------------------------------------------------------------ packet handlers

  private onDialRsp(rsp: { error: string; connectID: bigint; random: bigint }): void {
    if (this.state === 'draining') return; // a late answer to a dial we gave up; the server cleans up
    if (this.state !== 'dialing') return this.protocolError(`unexpected DIAL_RSP (dial id ${rsp.random})`);
    if (rsp.random !== this.deps.dialID) {
      return this.failDial('unknown', `DIAL_RSP for unknown dial id ${rsp.random}`, { code: 'ERR_PROTOCOL' }, true);
    }
    if (rsp.error !== '') return this.failDial('endpoint', rsp.error, { endpointError: rsp.error }, false);
    if (rsp.connectID === 0n) {
      return this.failDial('unknown', 'DIAL_RSP without a connectID', { code: 'ERR_PROTOCOL' }, true);
    }
    const pd = this.pendingDial;
    this.pendingDial = undefined;
    pd?.cleanup();
    this.connectID = rsp.connectID;
    this.state = 'established';
    this.status.set('ok');
    this.log = this.log.child({ connectID: rsp.connectID });
    this.log.debug('connection established', { address: this.deps.address });
    pd?.resolve(rsp.connectID);
  }

  private onData(d: { connectID: bigint; data: Uint8Array }): void {
    if (d.connectID === 0n) return; // dropped by every party, as upstream does
    switch (this.state) {
      case 'dialing':
        return this.failDial('unknown', `DATA before DIAL_RSP (connectID ${d.connectID})`, { code: 'ERR_PROTOCOL' }, true);
      case 'established':
      case 'closing':
        if (d.connectID !== this.connectID) {
          return this.protocolError(`${TEXT.mismatchedIDs}: DATA for ${d.connectID} on connection ${this.connectID}`);
        }
        if (d.data.length === 0) return;
        if (!this.sink || !this.sink.onData(Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength))) {
          this.demand = false;
        }
        return;
      default:
        return; // draining: discarded
    }
  }

  private onCloseRsp(c: { error: string; connectID: bigint }): void {
    if (this.state === 'dialing') {
      return this.failDial('unknown', c.error || 'CLOSE_RSP before DIAL_RSP', { code: 'ERR_PROTOCOL' }, true);
    }
    if (this.state !== 'established' && this.state !== 'closing') return;
    if (c.connectID !== 0n && c.connectID !== this.connectID) {
      this.log.debug('CLOSE_RSP for another connection ignored', { other: c.connectID });
      return;
    }
    this.drain(false);
    if (c.error !== '') {
      this.log.debug('connection closed by the server with an error', { error: c.error });
      this.fail(new TunnelError('ERR_REMOTE_CLOSE', c.error));
    } else {
      this.log.debug('connection closed');
      this.remoteEnded = true;
      this.sink?.onEnd();
      this.settleClose(undefined);
    }
  }

  private onDialCls(c: { random: bigint }): void {
    if (this.state !== 'dialing') return; // late; nothing to cancel
    if (c.random !== this.deps.dialID) {
      return this.failDial('unknown', `DIAL_CLS for unknown dial id ${c.random}`, { code: 'ERR_PROTOCOL' }, true);
    }
    this.failDial('dialclosed', 'dial closed', {}, false);
  }

  private unexpected(type: PacketType): void {
    this.protocolError(`unexpected packet type ${type} from the server`);
  }

  // ------------------------------------------------------------ failures and teardown

  private protocolError(message: string): void {
    this.log.warn('protocol error from the server; closing this connection', { error: message });
    this.deps.metrics?.stream.error('to_client', 'ERR_PROTOCOL');
    if (this.state === 'dialing') return this.failDial('unknown', message, { code: 'ERR_PROTOCOL' }, true);
    if (this.state === 'established') this.send(closeReq(this.connectID));
    this.drain(false);
    this.fail(new TunnelError('ERR_PROTOCOL', message));
  }

  private onStreamEnd(e: unknown): void {
    if (e !== undefined) {
      const code = e instanceof StreamClosedError ? statusName(e.grpcCode) : 'ERR_PROTOCOL';
      this.deps.metrics?.stream.error('to_client', code);
    }
    const message = e instanceof Error ? e.message : TEXT.clientTunnelClosed;
    if (this.state === 'dialing') {
      if (e instanceof ProtocolError) {
        this.failDial('unknown', `bad packet from the server: ${message}`, { code: 'ERR_PROTOCOL', cause: e }, false);
      } else if (e instanceof StreamClosedError && !this.sawPacket && e.grpcCode === grpc.status.UNAVAILABLE) {
        this.failDial('streamsetup', `failed to open proxy stream: ${message}`, { cause: e }, false);
      } else {
        this.failDial('tunnelclosed', TEXT.clientTunnelClosed, { cause: e }, false);
      }
      return;
    }
    if (this.state === 'established' || this.state === 'closing') {
      this.log.debug('proxy stream ended under an open connection', { error: message });
      this.drain(false);
      const err =
        e === undefined
          ? new TunnelError('ERR_TUNNEL_CLOSED', TEXT.clientTunnelClosed)
          : new TunnelError(e instanceof ProtocolError ? 'ERR_PROTOCOL' : 'ERR_STREAM', message, e);
      this.fail(err);
    }
  }

  /** Reports a failure of an open connection to whoever waits: end()'s promise, else the socket. */
  private fail(err: TunnelError): void {
    if (this.pendingClose) this.settleClose(err);
    else this.sink?.onError(err);
  }

  private settleClose(err: TunnelError | undefined): void {
    const pc = this.pendingClose;
    this.pendingClose = undefined;
    this.deps.timers.clearTimeout(this.closeTimer);
    if (!pc) return;
    if (err) pc.reject(err);
    else pc.resolve();
  }

  private failDial(reason: DialFailureReason, message: string, extra: Partial<DialErrorDetails>, sendDialCls: boolean): void {
    const pd = this.pendingDial;
    if (!pd) return;
    this.pendingDial = undefined;
    pd.cleanup();
    this.deps.metrics?.dialFailures.inc({ reason });
    this.log.debug('dial failed', { address: this.deps.address, reason, error: message });
    if (sendDialCls) this.send(dialCls(this.deps.dialID));
    this.drain(false);
    pd.reject(new DialError(reason, message, { address: this.deps.address, dialID: this.deps.dialID, ...extra }));
  }

  /**
   * We are done with this connection: half-close the stream and discard what
   * still arrives until the server ends it; cancel if it does not within
   * closeTimeoutMs (or at once when `hard`).
   */
  private drain(hard: boolean): void {
    if (this.state === 'done') return;
    if (this.state !== 'draining') {
      this.state = 'draining';
      this.status.set('closing');
      this.stream.close();
      this.teardownTimer = this.deps.timers.setTimeout(() => this.cancel('server did not end the stream'), this.deps.closeTimeoutMs);
    }
    if (hard) this.cancel(TEXT.clientCloseTimeout);
    this.wakeReader();
  }

  private cancel(message: string): void {
    this.stream.close({ code: grpc.status.CANCELLED, message });
  }

  private clearTimers(): void {
    this.deps.timers.clearTimeout(this.closeTimer);
    this.deps.timers.clearTimeout(this.teardownTimer);
    this.pendingDial?.cleanup();
  }

  private send(p: Packet): boolean {
    this.deps.metrics?.stream.packet('from_client', p.type);
    return this.stream.write(p);
  }
}

function statusName(code: number | undefined): string {
  if (code === undefined) return 'Unknown';
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}
