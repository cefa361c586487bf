/**
 * The server's side of one Pull stream: one dial, one connection, with
 * ProxyService's packets but the server dialing. One handler per packet
 * type, picked from a table.
 *
 * - new: the first packet must be DIAL_REQ{tcp, NAME[:PORT], random}. The
 *   name is checked and a slot of the agent's bound taken (admit), then the
 *   target is dialed while packets keep being read (DIAL_CLS cancels).
 * - dialing → open: DIAL_RSP{random, connectID}; bytes flow. Each direction
 *   has backpressure of its own: a target that does not read stops this
 *   stream's reads (HTTP/2 flow control pushes back on the agent), an agent
 *   that does not read pauses the target socket. Nothing queues here.
 * - open → done: CLOSE_REQ gets CLOSE_RSP and the socket is ended (destroyed
 *   after a linger); the target closing sends an unprompted CLOSE_RSP. A
 *   refused or failed dial is a DIAL_RSP error ending in " [CODE]". In every
 *   case the server then ends the stream with OK.
 */
import * as grpc from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import type { PullMetrics, PullResult } from '../../observability/pull-metrics.js';
import { closeRsp, data, dialRsp, type Packet, PacketType, packetTypeName, ProtocolError } from '../../protocol/index.js';
import { drainOrClose } from '../../transport/drain.js';
import type { PacketStream } from '../../transport/packet-stream.js';
import { type PullErrorCode, pullErrorText } from '../../transport/pull-errors.js';
import { parsePullAddress } from '../../transport/pull-service.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { PullTarget } from './config.js';
import { PULL_CLOSE_LINGER_MS, PULL_READ_CHUNK_BYTES } from './defaults.js';
import { PullDialError, type PullDialer } from './dialer.js';
import type { PullPrincipal } from './principal.js';

/** The verdict of admit(): go ahead (and call release() when done), or the refusal. */
export type PullAdmission =
  | { ok: true; target: PullTarget; release: () => void }
  | { ok: false; code: PullErrorCode; result: PullResult; message: string };

/** What one pull connection needs. */
export interface PullConnectionDeps {
  stream: PacketStream;
  principal: PullPrincipal;
  /** Checks the name against the policy and takes a slot of the agent's bound. */
  admit(name: string): PullAdmission;
  /** The metric label for a name (unknown names share one label). */
  label(name: string): string;
  dialer: PullDialer;
  dialTimeoutMs: number;
  /** This connection's id in DIAL_RSP (unique per server). */
  connectID: bigint;
  /** A stream that sends no DIAL_REQ within this time is closed. */
  firstPacketTimeoutMs: number;
  clock: Clock;
  /** Child logger with agentID. */
  log: Logger;
  metrics: PullMetrics;
}

type State = 'new' | 'dialing' | 'open' | 'done';
type Handler<T extends PacketType> = (p: Extract<Packet, { type: T }>) => void | Promise<void>;
type Handlers = { [T in PacketType]: Handler<T> };

/** One Pull stream. */
export class PullConnection {
  private state: State = 'new';
  private random = 0n;
  private name = '';
  private label = '';
  private socket: Duplex | undefined;
  private dialAbort: AbortController | undefined;
  private release: (() => void) | undefined;
  private counted = false;
  private finished = false;
  private lingering = false;
  private timer: TimerHandle | undefined;
  private log: Logger;
  private readonly handlers: Handlers = {
    [PacketType.DIAL_REQ]: (p) => this.onDialReq(p.dialRequest),
    [PacketType.DATA]: (p) => this.onData(p.data),
    [PacketType.CLOSE_REQ]: (p) => this.onCloseReq(p.closeRequest.connectID),
    [PacketType.DIAL_CLS]: (p) => this.onDialCls(p.closeDial.random),
    [PacketType.DIAL_RSP]: (p) => this.protocolError(`unexpected ${packetTypeName(p.type)} from the agent`),
    [PacketType.CLOSE_RSP]: (p) => this.protocolError(`unexpected ${packetTypeName(p.type)} from the agent`),
    [PacketType.DRAIN]: (p) => this.protocolError(`unexpected ${packetTypeName(p.type)} on a pull stream`),
  };

  constructor(private readonly d: PullConnectionDeps) {
    this.log = d.log;
  }

  /** The target name asked for ('' before DIAL_REQ). */
  get targetName(): string {
    return this.name;
  }

  /** 'dialing', 'open', ... for stats and the shutdown. */
  get phase(): State {
    return this.state;
  }

  /** Serves the stream until it ends; resolves when everything of it is released. Never rejects. */
  async serve(): Promise<void> {
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.state !== 'new') return;
      this.log.info('pull stream closed: no DIAL_REQ in time', { timeoutMs: this.d.firstPacketTimeoutMs });
      this.d.stream.close({ code: grpc.status.DEADLINE_EXCEEDED, message: `no DIAL_REQ within ${this.d.firstPacketTimeoutMs} ms` });
      this.finish();
    }, this.d.firstPacketTimeoutMs);
    let why = 'the agent ended the stream';
    try {
      for await (const p of this.d.stream) {
        const h = this.handlers[p.type] as Handler<PacketType> | undefined;
        if (h) await h(p as never);
        else this.protocolError(`unknown packet type ${p.type}`);
        if (this.finished) break;
      }
    } catch (e) {
      why = (e as Error).message;
      if (e instanceof ProtocolError) this.onBadFrame(e);
    }
    if (!this.finished) {
      if (this.state === 'dialing') this.count('cancelled');
      this.log.debug('pull stream ended', { target: this.name, reason: why });
    }
    this.finish();
  }

  /** Ends the connection at once with `message` (server shutdown). */
  abort(code: PullErrorCode, message: string): void {
    if (this.finished) return;
    if (this.state === 'dialing') {
      this.refuse(code, 'shutting_down', message);
      return;
    }
    if (this.state === 'open') this.d.stream.write(closeRsp(this.d.connectID, message));
    this.lingering = false;
    this.finish();
  }

  // ---- packets ----

  private onDialReq(req: { protocol: string; address: string; random: bigint }): void {
    if (this.state !== 'new') {
      this.protocolError('a pull stream carries exactly one DIAL_REQ');
      return;
    }
    this.clearTimer();
    this.random = req.random;
    this.state = 'dialing';
    if (req.protocol !== '' && req.protocol !== 'tcp') {
      this.refuse('ERR_PULL_BAD_ADDRESS', 'bad_address', `protocol "${req.protocol}" is not supported: pull connections are tcp`);
      return;
    }
    const parsed = parsePullAddress(req.address);
    if ('error' in parsed) {
      this.refuse('ERR_PULL_BAD_ADDRESS', 'bad_address', parsed.error);
      return;
    }
    this.name = parsed.name;
    this.label = this.d.label(parsed.name);
    this.log = this.log.child({ dialID: req.random, target: parsed.name });
    const admission = this.d.admit(parsed.name);
    if (!admission.ok) {
      this.refuse(admission.code, admission.result, admission.message);
      return;
    }
    this.release = admission.release;
    void this.dial(admission.target);
  }

  private async onData(d: { connectID: bigint; data: Uint8Array }): Promise<void> {
    if (d.connectID === 0n) return; // dropped by every party, as upstream does
    if (this.state !== 'open') {
      if (this.state === 'done') return;
      this.protocolError(`DATA before the dial completed (connectID ${d.connectID})`);
      return;
    }
    if (d.connectID !== this.d.connectID) {
      this.protocolError(`mismatched connection IDs: DATA for ${d.connectID} on connection ${this.d.connectID}`);
      return;
    }
    const s = this.socket!;
    if (d.data.length === 0 || s.destroyed) return;
    if (!s.write(d.data)) await drainOrClose(s);
  }

  private onCloseReq(connectID: bigint): void {
    if (this.state !== 'open' || connectID !== this.d.connectID) {
      this.log.debug('CLOSE_REQ ignored', { connectID, state: this.state });
      return;
    }
    this.d.stream.write(closeRsp(this.d.connectID));
    this.log.debug('pull connection closed by the agent');
    this.lingering = true;
    this.finish();
  }

  private onDialCls(random: bigint): void {
    if (random !== this.random) return;
    if (this.state === 'dialing') {
      this.count('cancelled');
      this.log.debug('pull dial cancelled by the agent');
      this.finish();
    } else if (this.state === 'open') {
      this.d.stream.write(closeRsp(this.d.connectID));
      this.finish();
    }
  }

  // ---- dialing and the target socket ----

  private async dial(target: PullTarget): Promise<void> {
    const abort = new AbortController();
    this.dialAbort = abort;
    let socket: Duplex;
    try {
      socket = await this.d.dialer(target, this.d.dialTimeoutMs, abort.signal);
    } catch (e) {
      if (this.state !== 'dialing' || abort.signal.aborted) return;
      const timedOut = e instanceof PullDialError && e.timedOut;
      this.log.info('pull target dial failed', { address: `${target.host}:${target.port}`, error: (e as Error).message });
      this.refuse(
        timedOut ? 'ERR_PULL_DIAL_TIMEOUT' : 'ERR_PULL_DIAL',
        timedOut ? 'dial_timeout' : 'dial_error',
        timedOut
          ? `pull target "${target.name}" did not answer within ${this.d.dialTimeoutMs} ms`
          : `cannot connect to pull target "${target.name}": ${errnoOf(e)}`,
      );
      return;
    } finally {
      this.dialAbort = undefined;
    }
    if (this.state !== 'dialing') {
      socket.destroy();
      return;
    }
    this.socket = socket;
    this.state = 'open';
    this.d.stream.write(dialRsp(this.random, this.d.connectID));
    this.count('ok');
    this.d.metrics.opened(this.label);
    this.counted = true;
    this.log = this.log.child({ connectID: this.d.connectID });
    this.log.debug('pull connection open', { address: `${target.host}:${target.port}` });
    socket.on('data', (chunk: Buffer) => this.fromTarget(chunk));
    socket.once('end', () => this.targetGone(''));
    socket.on('error', (err: Error) => this.targetGone(`pull target "${target.name}": ${err.message}`));
    socket.once('close', () => this.targetGone(''));
  }

  private fromTarget(chunk: Buffer): void {
    if (this.state !== 'open') return;
    let full = false;
    for (let off = 0; off < chunk.length; off += PULL_READ_CHUNK_BYTES) {
      if (!this.d.stream.write(data(this.d.connectID, chunk.subarray(off, off + PULL_READ_CHUNK_BYTES)))) full = true;
    }
    if (full && !this.d.stream.closed) {
      const s = this.socket!;
      s.pause();
      void this.d.stream.drained().then(() => {
        if (this.state === 'open') s.resume();
      });
    }
  }

  private targetGone(error: string): void {
    if (this.state !== 'open') return;
    this.d.stream.write(closeRsp(this.d.connectID, error));
    this.log.debug('pull target closed the connection', error ? { error } : {});
    this.finish();
  }

  // ---- endings ----

  /** A refused or failed dial: DIAL_RSP with the coded error, a log line, a metric; the stream ends. */
  private refuse(code: PullErrorCode, result: PullResult, message: string): void {
    this.d.stream.write(dialRsp(this.random, 0n, pullErrorText(code, message)));
    this.count(result);
    const fields = { agentID: this.d.principal.agentID, identity: this.d.principal.identity.subject, code, error: message };
    if (result === 'dial_error' || result === 'dial_timeout' || result === 'shutting_down') this.log.debug('pull dial failed', fields);
    else this.log.warn('pull dial refused', fields);
    this.finish();
  }

  private protocolError(message: string): void {
    this.log.warn('bad input on a pull stream; closing it', { error: message });
    if (this.state === 'dialing') this.count('protocol_error');
    if (this.state === 'open') this.d.stream.write(closeRsp(this.d.connectID, message));
    this.d.stream.close({ code: grpc.status.INVALID_ARGUMENT, message });
    this.finish();
  }

  private onBadFrame(e: ProtocolError): void {
    this.log.warn('malformed packet on a pull stream; closed', { error: e.message });
    if (this.state === 'dialing') this.count('protocol_error');
  }

  private count(result: PullResult): void {
    this.d.metrics.result(this.label || this.d.label(''), result);
  }

  /** Releases everything once: the dial, the socket (after a linger on CLOSE_REQ), the slot, the stream. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.state = 'done';
    this.clearTimer();
    this.dialAbort?.abort();
    const s = this.socket;
    if (s) {
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      if (this.lingering && !s.destroyed) {
        s.end();
        s.resume();
        const t = this.d.clock.setTimeout(() => s.destroy(), PULL_CLOSE_LINGER_MS);
        s.once('close', () => this.d.clock.clearTimeout(t));
      } else {
        s.destroy();
      }
    }
    if (this.counted) this.d.metrics.closed(this.label);
    this.counted = false;
    this.release?.();
    this.release = undefined;
    if (!this.d.stream.closed) this.d.stream.close();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The error code of a dial failure ("ECONNREFUSED"), without addresses of the server's network. */
function errnoOf(e: unknown): string {
  const m = /^(E[A-Z]+):/.exec((e as Error).message ?? '');
  return m ? m[1]! : 'connection failed';
}
