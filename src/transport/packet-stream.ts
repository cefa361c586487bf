/**
 * PacketStream: what the server, agent and client logic see of a gRPC
 * bidirectional stream of konnectivity packets. Core logic never touches
 * grpc-js call objects.
 */
import * as grpc from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import { decodePacket, type Packet, ProtocolError, wireBytes } from '../protocol/index.js';

export interface PacketStream {
  /** Who is on the other end, for logs ("agent a1 at 10.0.0.3:5123"). */
  readonly peer: string;
  /**
   * Queues a packet. Returns false when the transport buffer is full: wait
   * for `drained()` before writing more. After close, packets are dropped
   * and false is returned. `onWritten` runs once the packet has left the
   * stream's buffer for the transport (not for a dropped packet).
   */
  write(p: Packet, onWritten?: () => void): boolean;
  /** Resolves when the transport buffer has room again, or the stream has closed. */
  drained(): Promise<void>;
  /**
   * Incoming packets in order. Ends when the peer ends its side; throws
   * `ProtocolError` for a malformed frame (the stream is then already
   * closed with INVALID_ARGUMENT) or a `StreamClosedError` for a transport failure.
   */
  [Symbol.asyncIterator](): AsyncIterator<Packet>;
  /**
   * Ends the stream. Without an error: OK status (server side) or a
   * half-close (client side). With one: the error status is sent (server)
   * or the call is cancelled (client). On the client side a close with an
   * error after an earlier half-close still cancels the call.
   */
  close(err?: StreamCloseReason): void;
  /** True once close() was called or the stream ended. */
  readonly closed: boolean;
  /** Resolves once the stream is fully finished, whatever the cause. */
  readonly done: Promise<void>;
}

export interface StreamCloseReason {
  code: grpc.status;
  message: string;
}

/** The stream ended with an error from the transport (peer reset, cancelled, deadline, ...). */
export class StreamClosedError extends Error {
  readonly grpcCode: number | undefined;
  constructor(message: string, grpcCode?: number) {
    super(message);
    this.name = 'StreamClosedError';
    this.grpcCode = grpcCode;
  }
}

type AnyCall = grpc.ServerDuplexStream<Buffer, Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>;

/** PacketStream over a grpc-js duplex call, either side. */
export class GrpcPacketStream implements PacketStream {
  readonly peer: string;
  closed = false;
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly isServer: boolean;
  private drainWait: Promise<void> | undefined;

  constructor(
    private readonly call: AnyCall,
    side: 'server' | 'client',
    peer?: string,
  ) {
    this.isServer = side === 'server';
    this.peer = peer ?? safePeer(call);
    this.done = new Promise((r) => (this.resolveDone = r));
    const finish = (): void => {
      this.closed = true;
      this.resolveDone();
    };
    call.once('close', finish);
    // Errors are surfaced through the iterator; keep the emitter from throwing.
    call.on('error', () => undefined);
    if (this.isServer) call.once('finish', finish);
  }

  write(p: Packet, onWritten?: () => void): boolean {
    if (this.closed || this.call.writableEnded || this.call.destroyed) return false;
    return this.call.write(wireBytes(p), onWritten);
  }

  drained(): Promise<void> {
    const c = this.call as unknown as Duplex;
    if (this.closed || !c.writableNeedDrain) return Promise.resolve();
    // One wait shared by every caller (many connections may wait on one stream).
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        c.off('drain', done);
        c.off('close', done);
        c.off('finish', done);
        this.drainWait = undefined;
        resolve();
      };
      c.on('drain', done);
      c.on('close', done);
      c.on('finish', done);
    });
    return this.drainWait;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Packet> {
    try {
      // Server side: our own reader (serverMessages). Node's iterator destroys
      // the call when the client half-closes or when an 'error' is emitted on
      // it, and a destroyed server call never sends its status: the client
      // would hang. Client side: the default (the status has arrived by then).
      const chunks = (this.isServer ? serverMessages(this.call as unknown as Duplex) : this.call) as AsyncIterable<Buffer>;
      for await (const chunk of chunks) {
        let p: Packet;
        try {
          p = decodePacket(chunk);
        } catch (e) {
          if (e instanceof ProtocolError) {
            this.close({ code: grpc.status.INVALID_ARGUMENT, message: e.message });
          }
          throw e;
        }
        yield p;
      }
    } catch (e) {
      if (e instanceof ProtocolError || e instanceof StreamClosedError) throw e;
      const err = e as { code?: number; details?: string; message?: string };
      throw new StreamClosedError(err.details ?? err.message ?? String(e), err.code);
    }
  }

  close(reason?: StreamCloseReason): void {
    if (this.closed) {
      // A client may escalate its earlier half-close to a cancel when the
      // server never ends its side (grpc-js ignores a cancel of a finished call).
      if (reason && !this.isServer) (this.call as grpc.ClientDuplexStream<Buffer, Buffer>).cancel();
      return;
    }
    this.closed = true;
    if (this.isServer) {
      const call = this.call as grpc.ServerDuplexStream<Buffer, Buffer>;
      if (reason) {
        call.emit('error', { code: reason.code, details: reason.message });
      } else if (!call.writableEnded) {
        call.end();
      }
    } else {
      const call = this.call as grpc.ClientDuplexStream<Buffer, Buffer>;
      if (reason) call.cancel();
      else if (!call.writableEnded) call.end();
    }
    this.resolveDone();
  }
}

/**
 * The messages of a server call, pulled one at a time (the call asks the
 * client for more only when read). Never destroys the call: close() emits
 * 'error' on it to send an error status, which must still go out after the
 * messages already written. Ends when the client half-closes; throws when the
 * call goes away without that (the client cancelled, the connection died).
 */
export async function* serverMessages(call: Duplex): AsyncGenerator<Buffer> {
  let wake: (() => void) | undefined;
  let ended = false;
  let gone = false;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onClose = (): void => {
    gone = true;
    notify();
  };
  call.on('readable', notify);
  call.once('end', onEnd);
  call.once('close', onClose);
  try {
    for (;;) {
      const chunk = call.read() as Buffer | null;
      if (chunk !== null) {
        yield chunk;
        continue;
      }
      if (ended || call.readableEnded) return;
      if (gone || call.destroyed) {
        const why = (call as { errored?: Error | null }).errored?.message ?? 'the stream closed before the client ended it';
        throw new StreamClosedError(why, grpc.status.CANCELLED);
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    call.off('readable', notify);
    call.off('end', onEnd);
    call.off('close', onClose);
  }
}

function safePeer(call: AnyCall): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}
