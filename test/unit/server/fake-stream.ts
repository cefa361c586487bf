/** An in-memory PacketStream for relay tests: the test plays the remote peer. */
import type { Packet } from '../../../src/protocol/index.js';
import type { PacketStream, StreamCloseReason } from '../../../src/transport/packet-stream.js';

export class FakePacketStream implements PacketStream {
  closed = false;
  /** Set when the server side closed the stream (undefined reason = clean close). */
  closeReason: StreamCloseReason | undefined;
  /** Every packet the code under test wrote, in order. */
  readonly written: Packet[] = [];
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private room = true;
  private drainWaiters: (() => void)[] = [];
  private inbox: Packet[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wakeReader: (() => void) | undefined;
  private cursor = 0;
  private writeWaiters: (() => void)[] = [];

  constructor(readonly peer: string) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  write(p: Packet, onWritten?: () => void): boolean {
    if (this.closed) return false;
    this.written.push(p);
    onWritten?.();
    for (const w of this.writeWaiters.splice(0)) w();
    return this.room;
  }

  drained(): Promise<void> {
    if (this.closed || this.room) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Makes the transport full (write returns false, drained waits) or gives it room again. */
  setRoom(room: boolean): void {
    this.room = room;
    if (room) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** The remote peer sends a packet. */
  push(p: Packet): void {
    this.inbox.push(p);
    this.wakeReader?.();
  }

  /** The remote peer ends its side cleanly. */
  end(): void {
    this.ended = true;
    this.wakeReader?.();
  }

  /** The transport fails (the iterator throws `err`). */
  fail(err: Error): void {
    this.failure = err;
    this.ended = true;
    this.wakeReader?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Packet> {
    for (;;) {
      while (this.inbox.length === 0 && !this.ended && !this.closed) {
        await new Promise<void>((r) => (this.wakeReader = r));
        this.wakeReader = undefined;
      }
      if (this.inbox.length > 0) {
        yield this.inbox.shift()!;
        continue;
      }
      if (this.failure) throw this.failure;
      return;
    }
  }

  close(reason?: StreamCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.wakeReader?.();
    for (const w of this.drainWaiters.splice(0)) w();
    for (const w of this.writeWaiters.splice(0)) w();
    this.resolveDone();
  }

  /** The next packet written after the previous next() (waits for it). Rejects if the stream closes first. */
  async next(): Promise<Packet> {
    while (this.cursor >= this.written.length) {
      if (this.closed) throw new Error(`${this.peer}: closed (${this.closeReason?.message ?? 'clean'}) with no further packet`);
      await new Promise<void>((r) => this.writeWaiters.push(r));
    }
    return this.written[this.cursor++]!;
  }

  /** Packets written and not yet taken by next(). */
  get unread(): Packet[] {
    return this.written.slice(this.cursor);
  }
}
