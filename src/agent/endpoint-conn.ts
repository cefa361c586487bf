/**
 * One established endpoint connection of a server stream: the socket the
 * agent dialed for a DIAL_REQ, and the bytes moving both ways.
 *
 * - endpoint → server: socket reads become DATA packets of at most
 *   limits.readChunkBytes; when the shared stream reports backpressure the
 *   socket is paused until the stream drains. EOF or a socket error sends an
 *   unprompted CLOSE_RSP (there is no half-close: a FIN is a full close).
 * - server → endpoint: DATA is written to the socket; while the socket is not
 *   draining it is queued here, never blocking the shared receive loop. A
 *   queue over the bound for too long, or far over it, closes this
 *   connection alone with a CLOSE_RSP error.
 * - With per-connection flow control (a server of ours, `flow`): endpoint
 *   bytes go out within the connection's credit; without credit the socket
 *   is paused and the bytes read are held until a grant comes. Server bytes
 *   count against the credit we granted, are granted back once the socket
 *   has flushed them, and replace the queue bounds and the stall close (a
 *   slow endpoint only slows its own connection).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { closeRsp, data, type Packet } from '../protocol/index.js';
import type { ConnFlow } from '../transport/flow-control.js';
import type { AgentClock } from './clock.js';
import type { ConnectionLimits } from './limits.js';

/** Where an endpoint connection sends its packets: the shared server stream. */
export interface PacketSink {
  /** Queues a packet; false means the stream is full (or closed): wait for drained(). */
  send(p: Packet): boolean;
  /** Resolves when the stream has room again or has closed. */
  drained(): Promise<void>;
}

/** What an EndpointConn needs. */
export interface EndpointConnOptions {
  connectID: bigint;
  /** The dial id of the DIAL_REQ that opened it. */
  random: bigint;
  /** The dialed address, for logs and the stall error. */
  address: string;
  socket: Duplex;
  sink: PacketSink;
  limits: ConnectionLimits;
  clock: AgentClock;
  /** Child logger with connectID. */
  log: Logger;
  /** Called once when the connection stops being established (any CLOSE_RSP already sent). */
  onClosed(conn: EndpointConn, why: string): void;
  /** Called once when the socket is released for good (after onClosed; after the linger of a CLOSE_REQ). */
  onReleased(conn: EndpointConn): void;
  /** The connection's credits when the server stream is flow-controlled. */
  flow?: ConnFlow;
  /** Counts bad input from the server (a flow-control violation). */
  onBadInput?(reason: string): void;
}

type State = 'open' | 'lingering' | 'released';

/** One endpoint socket tied to a connectID on one server stream. */
export class EndpointConn {
  readonly connectID: bigint;
  readonly random: bigint;
  readonly address: string;
  /** When the connection was established (clock ms). */
  readonly openedAt: number;
  private state: State = 'open';
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private stallTimer: unknown = undefined;
  private lingerTimer: unknown = undefined;
  private waitingForStream = false;
  private waitingForCredit = false;
  /** Endpoint bytes read but not sent yet for lack of credit (the socket is paused meanwhile). */
  private held: Buffer | undefined;
  /** The endpoint closed while bytes were held: why, to report once they are sent. */
  private goneWhileHeld: string | undefined;
  private closedNotified = false;

  constructor(private readonly o: EndpointConnOptions) {
    this.connectID = o.connectID;
    this.random = o.random;
    this.address = o.address;
    this.openedAt = o.clock.now();
  }

  /** Server→endpoint bytes waiting for the socket: packets and bytes. */
  get queued(): { packets: number; bytes: number } {
    return { packets: this.queue.length, bytes: this.queuedBytes };
  }

  /** Our flow-control receive window for this connection now (undefined without flow control). */
  get flowWindow(): number | undefined {
    return this.o.flow?.receiveWindow;
  }

  /** Starts moving bytes. Call after DIAL_RSP was sent, so no DATA precedes it. */
  start(): void {
    const s = this.o.socket;
    s.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    s.on('drain', () => this.flushQueue());
    s.once('end', () => this.endpointGone('endpoint closed the connection'));
    s.on('error', (err: Error) => this.endpointGone(`endpoint socket error: ${err.message}`));
    s.once('close', () => this.onSocketClose());
  }

  /** Endpoint bytes read and not yet sent to the server (waiting for credit). */
  get heldBytes(): number {
    return this.held?.length ?? 0;
  }

  /** DATA from the server: write to the socket or queue it. */
  writeFromServer(bytes: Uint8Array): void {
    if (this.state !== 'open' || bytes.length === 0) return;
    if (this.o.flow && !this.o.flow.received(bytes.length)) {
      this.o.onBadInput?.('flow_credit');
      this.o.log.warn('server sent more than its flow-control credit; closing the connection', { address: this.address });
      this.closeWithResponse('flow-control credit exceeded', 'connection closed: the server sent more data than its flow-control credit');
      return;
    }
    if (this.queue.length === 0 && !this.o.socket.writableNeedDrain) {
      this.writeToSocket(bytes);
      return;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.checkBounds();
  }

  /**
   * CLOSE_REQ from the server: forward what was already read from the
   * socket, send CLOSE_RSP, then let the socket take the queued bytes and
   * close (destroyed after limits.closeLingerMs at the latest).
   */
  closeByServer(): void {
    if (this.state !== 'open') return;
    const s = this.o.socket;
    // Without flow control, what was read goes out first ('data' listeners forward it); with it,
    // bytes beyond the credit are dropped: the client asked to close and reads no more.
    if (!this.o.flow && s.readableLength > 0) while (s.read() !== null);
    this.held = undefined;
    this.o.sink.send(closeRsp(this.connectID));
    this.notifyClosed('close requested by server');
    this.state = 'lingering';
    // Keep reading (and discarding) so the endpoint's FIN is seen and the socket is released early.
    s.removeAllListeners('data');
    s.on('data', () => undefined);
    s.resume();
    this.lingerTimer = this.o.clock.setTimeout(() => this.release(), this.o.limits.closeLingerMs);
    if (this.queue.length === 0) s.end();
  }

  /** Closes the connection with a CLOSE_RSP (DIAL_CLS for a dial that had completed, or a refusal). */
  closeWithResponse(why: string, error = ''): void {
    if (this.state !== 'open') return;
    this.o.sink.send(closeRsp(this.connectID, error));
    this.notifyClosed(why);
    this.release();
  }

  /** The server stream is gone: drop the socket without sending anything. */
  abort(why: string): void {
    if (this.state === 'released') return;
    this.notifyClosed(why);
    this.release();
  }

  private onSocketData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    this.forward(chunk);
  }

  /**
   * Sends endpoint bytes as DATA of at most readChunkBytes, within the credit
   * when flow-controlled; what the credit does not cover is held with the
   * socket paused. A full shared stream pauses the socket until it drains.
   */
  private forward(chunk: Buffer): void {
    const size = this.o.limits.readChunkBytes;
    const flow = this.o.flow;
    let full = false;
    let off = 0;
    while (off < chunk.length) {
      const want = Math.min(size, chunk.length - off);
      const n = flow ? flow.take(want) : want;
      if (n === 0) {
        this.hold(chunk.subarray(off));
        break;
      }
      if (!this.o.sink.send(data(this.connectID, chunk.subarray(off, off + n)))) full = true;
      off += n;
    }
    if (full && !this.waitingForStream) {
      this.waitingForStream = true;
      this.o.socket.pause();
      void this.o.sink.drained().then(() => {
        this.waitingForStream = false;
        this.resumeReading();
      });
    }
  }

  private hold(rest: Buffer): void {
    this.held = rest;
    this.waitingForCredit = true;
    this.o.socket.pause();
    void this.o.flow!.waitForCredit().then(() => {
      this.waitingForCredit = false;
      const h = this.held;
      this.held = undefined;
      if (this.state !== 'open' || !h) return;
      this.forward(h);
      if (this.held === undefined && this.goneWhileHeld !== undefined) {
        this.endpointGone(this.goneWhileHeld);
        return;
      }
      this.resumeReading();
    });
  }

  private resumeReading(): void {
    if (this.state === 'open' && !this.waitingForStream && !this.waitingForCredit) this.o.socket.resume();
  }

  /** Writes server bytes to the socket; with flow control they are granted back once flushed. */
  private writeToSocket(b: Uint8Array): void {
    const flow = this.o.flow;
    if (flow) this.o.socket.write(b, () => flow.consumed(b.length));
    else this.o.socket.write(b);
  }

  private flushQueue(): void {
    const s = this.o.socket;
    while (this.queue.length > 0 && !s.writableNeedDrain && this.state !== 'released') {
      const b = this.queue.shift()!;
      this.queuedBytes -= b.length;
      this.writeToSocket(b);
    }
    if (this.state === 'open') this.checkBounds();
    else if (this.state === 'lingering' && this.queue.length === 0) s.end();
  }

  private checkBounds(): void {
    if (this.o.flow) return; // the credit we granted bounds the queue; a slow endpoint is allowed
    const l = this.o.limits;
    const n = this.queue.length;
    const over = n > l.maxQueuedPackets || this.queuedBytes > l.maxQueuedBytes;
    if (!over) {
      if (this.stallTimer !== undefined) {
        this.o.clock.clearTimeout(this.stallTimer);
        this.stallTimer = undefined;
      }
      return;
    }
    if (n > l.maxQueuedPackets * l.hardLimitFactor || this.queuedBytes > l.maxQueuedBytes * l.hardLimitFactor) {
      this.stalled(`endpoint ${this.address} is not reading: ${n} packets (${this.queuedBytes} bytes) queued, over the limit`);
      return;
    }
    if (this.stallTimer === undefined) {
      this.stallTimer = this.o.clock.setTimeout(() => {
        this.stallTimer = undefined;
        this.stalled(
          `endpoint ${this.address} stalled: ${this.queue.length} packets (${this.queuedBytes} bytes) queued for over ${l.stallTimeoutMs} ms`,
        );
      }, l.stallTimeoutMs);
    }
  }

  private stalled(text: string): void {
    this.o.log.warn('endpoint connection stalled; closing it', { address: this.address, error: text });
    this.closeWithResponse('endpoint stalled', `connection closed: ${text}`);
  }

  private endpointGone(why: string): void {
    if (this.state !== 'open') {
      if (this.state === 'lingering') this.release();
      return;
    }
    if (this.held !== undefined && !this.o.socket.errored) {
      // The endpoint's last bytes wait for credit: they go out before the CLOSE_RSP.
      this.goneWhileHeld = why;
      return;
    }
    this.o.sink.send(closeRsp(this.connectID));
    this.notifyClosed(why);
    this.release();
  }

  private onSocketClose(): void {
    if (this.state === 'open') this.endpointGone('endpoint socket closed');
    else this.release();
  }

  private notifyClosed(why: string): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    if (this.stallTimer !== undefined) {
      this.o.clock.clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
    this.o.log.debug('endpoint connection closed', { reason: why });
    this.o.onClosed(this, why);
  }

  private release(): void {
    if (this.state === 'released') return;
    this.state = 'released';
    if (this.stallTimer !== undefined) this.o.clock.clearTimeout(this.stallTimer);
    if (this.lingerTimer !== undefined) this.o.clock.clearTimeout(this.lingerTimer);
    this.stallTimer = this.lingerTimer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.held = undefined;
    this.o.flow?.close();
    this.o.socket.destroy();
    this.o.onReleased(this);
  }
}
