/**
 * Reading packets from an HTTP/2 stream that carries gRPC messages, for the
 * client library's transport, which speaks gRPC over node:http2 without
 * grpc-js.
 */
import type { Duplex } from 'node:stream';
import { type Packet, PacketType, ProtocolError } from '../protocol/index.js';
import { GrpcMessageReader } from './grpc-messages.js';

/** Payload bytes waiting unread before the HTTP/2 stream is paused. */
const PAUSE_BYTES = 64 * 1024;

/** What the side reading the stream does at its ends. */
export interface ReadHooks {
  /** A malformed message arrived (the packets before it were delivered): end the stream with an error. */
  malformed(e: ProtocolError): void;
  /** The peer ended its side cleanly after the last packet: return to finish, or throw (e.g. an error status). */
  ended(): void;
  /** The stream went away without a clean end: the error to throw. */
  broken(cause: unknown): Error;
  /** The reader gave up before the end (the iterator's return()): cut the stream. */
  stopped(): void;
}

function payloadBytes(p: Packet): number {
  return p.type === PacketType.DATA ? p.data.data.length : 0;
}

/**
 * The packets of `stream`, pulled one at a time. The stream is read in
 * flowing mode and paused while PAUSE_BYTES of payload wait unread, so a
 * reader that stops leaves the rest to HTTP/2 flow control. Written by hand
 * rather than as an async generator over the stream: this runs for every
 * 16 KiB frame of a bulk transfer, and a generator's promise hops cost more
 * than the decoding. A ProtocolError is thrown as it is; other failures as
 * `hooks.broken(cause)`. Single use.
 */
export function readPackets(stream: Duplex, maxMessageBytes: number, hooks: ReadHooks): AsyncIterator<Packet> {
  const reader = new GrpcMessageReader(maxMessageBytes);
  const queue: Packet[] = [];
  let head = 0;
  let queuedBytes = 0;
  let paused = false;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    const before = queue.length;
    try {
      reader.push(chunk, queue);
    } catch (e) {
      if (failure === undefined) {
        failure = e;
        if (e instanceof ProtocolError) hooks.malformed(e);
      }
    }
    for (let i = before; i < queue.length; i++) queuedBytes += payloadBytes(queue[i]!);
    if (queuedBytes >= PAUSE_BYTES && !paused) {
      paused = true;
      stream.pause();
    }
    notify();
  };
  const onEnd = (): void => {
    try {
      reader.end();
    } catch (e) {
      failure ??= e;
    }
    ended = true;
    notify();
  };
  const onClose = (): void => notify();
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('close', onClose);
  const detach = (): void => {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onClose);
  };
  const finish = (): IteratorResult<Packet> => {
    detach();
    if (failure === undefined && !ended) failure = stream.errored ?? new Error('the stream closed before the peer ended it');
    if (failure !== undefined) throw failure instanceof ProtocolError ? failure : hooks.broken(failure);
    hooks.ended();
    return { value: undefined, done: true };
  };
  const take = (): IteratorResult<Packet> => {
    const p = queue[head]!;
    queue[head++] = undefined as unknown as Packet;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    queuedBytes -= payloadBytes(p);
    if (paused && queuedBytes < PAUSE_BYTES) {
      paused = false;
      stream.resume();
    }
    return { value: p, done: false };
  };
  return {
    next: async (): Promise<IteratorResult<Packet>> => {
      for (;;) {
        if (head < queue.length) return take();
        if (failure !== undefined || ended || stream.destroyed) return finish();
        await new Promise<void>((r) => (wake = r));
      }
    },
    return: (): Promise<IteratorResult<Packet>> => {
      detach();
      if (!ended) hooks.stopped();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}
