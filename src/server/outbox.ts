/**
 * The agent→client queue of one connection. Writes go straight to the
 * client's transport while it has room; after that they queue here, so the
 * agent stream's read loop never waits for one client. Over the soft bound
 * the connection counts as full; full for longer than the stall timeout, or
 * over the hard byte bound, the owner is told to close it.
 */
import type { Clock, TimerHandle } from './clock.js';

/** Bounds and callbacks of an Outbox. */
export interface OutboxOptions {
  /** Queued packets beyond this make the connection "full" (config.xfrChannelSize). */
  softLimit: number;
  /** Queued bytes beyond this overflow at once. */
  hardLimitBytes: number;
  /** How long the connection may stay full. */
  stallTimeoutMs: number;
  clock: Clock;
  /** Called once when the queue stalled or overflowed; the owner closes the connection. */
  onOverflow(code: 'ERR_CLIENT_STALLED' | 'ERR_QUEUE_OVERFLOW', message: string): void;
  /** Called when the queue becomes full (true) or leaves that state (false). */
  onFullChange(full: boolean): void;
}

/** The sink an Outbox writes to. */
export interface OutboxSink {
  readonly closed: boolean;
  drained(): Promise<void>;
}

interface Item {
  bytes: number;
  /** Writes the item; false when the transport is full afterwards. */
  write: () => boolean;
}

/** A bounded per-connection queue in front of a client's transport. */
export class Outbox {
  private items: Item[] = [];
  private head = 0;
  private bytes = 0;
  private blocked = false;
  private full = false;
  private timer: TimerHandle | undefined;
  private disposed = false;
  private slowReaderOK = false;

  constructor(
    private readonly sink: OutboxSink,
    private readonly opts: OutboxOptions,
  ) {}

  /** Packets waiting (not yet handed to the transport). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Bytes waiting. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Writes now if the transport has room and nothing waits, else queues. */
  push(bytes: number, write: () => boolean): void {
    if (this.disposed) return;
    if (!this.blocked && this.length === 0) {
      if (!write()) this.block();
      return;
    }
    this.items.push({ bytes, write });
    this.bytes += bytes;
    this.check();
  }

  /**
   * The connection is flow-controlled: its sender stops at the credit, so a
   * full queue only means a slow reader, which is allowed. The stall timer no
   * longer runs; the hard byte bound still holds.
   */
  tolerateSlowReader(): void {
    this.slowReaderOK = true;
    if (this.timer !== undefined) {
      this.opts.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Drops everything and stops timers; later pushes are ignored. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.setFull(false);
  }

  private block(): void {
    this.blocked = true;
    if (this.sink.closed) {
      this.dispose();
      return;
    }
    // Resume on a later turn of the event loop: a transport that is being torn
    // down may report "drained" before it reports "closed".
    void this.sink.drained().then(() => setImmediate(() => this.resume()));
  }

  private resume(): void {
    if (this.disposed) return;
    this.blocked = false;
    while (this.length > 0 && !this.blocked) {
      const item = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as Item;
      this.bytes -= item.bytes;
      if (!item.write()) this.block();
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (!this.disposed) this.check();
  }

  private check(): void {
    if (this.bytes > this.opts.hardLimitBytes) {
      const msg = `receive queue overflow: ${this.bytes} bytes queued for a client that does not read (limit ${this.opts.hardLimitBytes})`;
      this.dispose();
      this.opts.onOverflow('ERR_QUEUE_OVERFLOW', msg);
      return;
    }
    this.setFull(this.length > this.opts.softLimit);
  }

  private setFull(full: boolean): void {
    if (full === this.full) return;
    this.full = full;
    if (full && !this.slowReaderOK) {
      this.timer = this.opts.clock.setTimeout(() => {
        this.timer = undefined;
        const msg = `client stalled: it did not read for ${this.opts.stallTimeoutMs} ms while more than ${this.opts.softLimit} packets were queued`;
        this.dispose();
        this.opts.onOverflow('ERR_CLIENT_STALLED', msg);
      }, this.opts.stallTimeoutMs);
    } else if (this.timer !== undefined) {
      this.opts.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.opts.onFullChange(full);
  }
}
