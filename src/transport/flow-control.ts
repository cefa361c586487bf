/**
 * Credit-based flow control per connection (proto/tunnel/v1/flow.proto),
 * the same for both roles. A FlowLink belongs to one flow-controlled Connect
 * stream; it holds a ConnFlow per open connection and the Credits stream the
 * grants travel on.
 *
 * - Sending: `take(n)` reserves up to n bytes of the credit left; with none
 *   left the caller stops reading its source and waits for `credit()`.
 * - Receiving: `received(n)` checks the peer stayed within its credit;
 *   `consumed(n)` is called once the bytes were handed on, and grants them
 *   back. Grants are sent per connection once at least a quarter of the
 *   window is owed, all together on the next turn of the event loop, so a
 *   bulk transfer costs one small message per quarter window and an
 *   interactive one almost none. The peer is never starved: what is owed and
 *   not yet granted stays under a quarter of its window.
 * - Growing windows (`maxReceiveWindow`): a sender that runs out of credit
 *   says so once (the `blocked` field of the next batch). A receiver that
 *   has handed on eight times the connection's window since the window last
 *   changed (its reader keeps taking the bytes, so the window is what
 *   limits) then doubles the window, up to its maximum, by granting bytes it
 *   has not received. Bytes count as handed on once they left our buffers
 *   (the socket's or stream's write callback), so a reader that never reads
 *   takes only what the buffers after us hold: the client's HTTP/2 window
 *   and its socket (about 1.3 MiB with our client library), or a TCP
 *   socket's send buffer, which Linux grows to 4 MiB (net.ipv4.tcp_wmem)
 *   even while the peer reads nothing, plus the peer's initial 128 KiB
 *   receive buffer. Less than eight windows: a connection stalled from the
 *   start keeps the announced window. A slow sender never runs out of
 *   credit and never makes it grow either. What we hold for a connection
 *   that was fast and then stalls is bounded by the maximum. (What we hold
 *   when the signal comes tells nothing: the peer sends its whole credit at
 *   once and says it is blocked right away, so a receiver that keeps up
 *   still holds most of a window at that moment.)
 */
import { type CreditBatch, encodeGrants, type Grant } from './flow-wire.js';

/** Windows' worth of bytes a connection hands on before its window may grow (again). */
const GROW_AFTER_WINDOWS = 8;

/** Where grants go: the Credits stream (grants are small and few; nothing waits for its buffer). */
export type GrantWriter = (batch: Buffer) => void;

/** What a FlowLink is built from. */
export interface FlowLinkOptions {
  /** The peer's announced receive window: our initial credit per connection. */
  sendWindow: number;
  /** Our receive window (what we announced): the peer's initial credit per connection. */
  receiveWindow: number;
  /** Largest receive window a connection may grow to (default receiveWindow: no growth). */
  maxReceiveWindow?: number;
  /** Runs `fn` on a later turn of the event loop (default setImmediate); tests may run it at once. */
  defer?: (fn: () => void) => void;
}

/** Flow state of one connection. */
export class ConnFlow {
  /** Bytes we may still send. */
  private credit: number;
  /** Bytes the peer may still send us. */
  private allowance: number;
  /** Consumed and not granted back yet, plus window growth not granted yet. */
  private owed = 0;
  /** Our receive window for this connection: the announced one, grown when the peer was blocked. */
  private window: number;
  /** We ran out of credit and said so; cleared by the next grant. */
  private saidBlocked = false;
  /** Bytes handed on since the window last grew (or opened). */
  private consumedSinceGrowth = 0;
  private waiters: (() => void)[] = [];
  private isClosed = false;

  /** @internal built by FlowLink.open */
  constructor(
    readonly connectID: bigint,
    private readonly link: FlowLink,
    sendWindow: number,
    receiveWindow: number,
  ) {
    this.credit = sendWindow;
    this.allowance = receiveWindow;
    this.window = receiveWindow;
  }

  /** Our receive window for this connection now. */
  get receiveWindow(): number {
    return this.window;
  }

  /** True once the connection (or the whole link) closed: nothing more is sent or granted. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Credit left, in bytes. */
  get available(): number {
    return this.credit;
  }

  /** Bytes received and not yet handed on or granted back (what this connection holds of the peer's credit). */
  get outstanding(): number {
    return this.window - this.allowance - this.owed;
  }

  /** Reserves up to `max` bytes of credit; returns how many may be sent now (0: wait for credit()). */
  take(max: number): number {
    if (this.isClosed) return max; // nothing is counted any more; the caller drops what it sends
    const n = Math.min(max, this.credit);
    this.credit -= n;
    if (n < max && !this.saidBlocked) {
      this.saidBlocked = true;
      this.link.blocked(this);
    }
    return n;
  }

  /** Resolves once there is credit again or the connection closed. */
  waitForCredit(): Promise<void> {
    if (this.isClosed || this.credit > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Counts `n` received bytes. False: the peer sent more than its credit (a protocol violation). */
  received(n: number): boolean {
    this.allowance -= n;
    return this.allowance >= 0 || this.isClosed;
  }

  /** `n` received bytes were handed on: grant them back (batched). */
  consumed(n: number): void {
    if (this.isClosed || n <= 0) return;
    this.owed += n;
    this.consumedSinceGrowth += n;
    if (this.owed >= this.window / 4) this.link.owe(this);
  }

  /**
   * @internal the peer ran out of credit for this connection: when we have
   * handed on eight times the window since it last grew, the window is what
   * limits, and it doubles (up to the link's maximum) with a grant of the
   * difference.
   */
  peerBlocked(): void {
    const max = this.link.maxReceiveWindow;
    if (this.isClosed || this.window >= max) return;
    if (this.consumedSinceGrowth < GROW_AFTER_WINDOWS * this.window) return;
    const more = Math.min(this.window, max - this.window);
    this.window += more;
    this.owed += more;
    this.consumedSinceGrowth = 0;
    this.link.owe(this);
  }

  /** Stops everything for this connection; waiters resume (and find it closed). Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.link.forget(this);
    this.wake();
  }

  /** @internal the peer granted `n` bytes. */
  grant(n: number): void {
    if (this.isClosed) return;
    this.credit += n;
    this.saidBlocked = false;
    if (this.credit > 0) this.wake();
  }

  /** @internal takes what is owed, for a grant message. */
  takeOwed(): number {
    const n = this.owed;
    this.owed = 0;
    this.allowance += n;
    return n;
  }

  private wake(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** The flow control of one Connect stream. */
export class FlowLink {
  readonly sendWindow: number;
  readonly receiveWindow: number;
  /** Largest receive window a connection may grow to. */
  readonly maxReceiveWindow: number;
  /** Owed bytes of one connection that trigger a grant, at the announced window (a quarter of the current one). */
  readonly grantThreshold: number;
  private readonly conns = new Map<bigint, ConnFlow>();
  private readonly owing = new Set<ConnFlow>();
  private readonly blockedNow = new Set<ConnFlow>();
  private writer: GrantWriter | undefined;
  private flushScheduled = false;
  private isClosed = false;
  private readonly defer: (fn: () => void) => void;

  constructor(o: FlowLinkOptions) {
    this.sendWindow = o.sendWindow;
    this.receiveWindow = o.receiveWindow;
    this.maxReceiveWindow = Math.max(o.receiveWindow, o.maxReceiveWindow ?? o.receiveWindow);
    this.grantThreshold = Math.max(1, Math.floor(o.receiveWindow / 4));
    this.defer = o.defer ?? ((fn) => setImmediate(fn));
  }

  /** Open connections. */
  get size(): number {
    return this.conns.size;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Starts flow control of a new connection (at its successful DIAL_RSP). */
  open(connectID: bigint): ConnFlow {
    const c = new ConnFlow(connectID, this, this.sendWindow, this.receiveWindow);
    if (this.isClosed) c.close();
    else this.conns.set(connectID, c);
    return c;
  }

  /** The Credits stream is ready: grants owed so far go out, and from now on as they are due. */
  attach(writer: GrantWriter): void {
    this.writer = writer;
    if (this.owing.size > 0 || this.blockedNow.size > 0) this.scheduleFlush();
  }

  /** Grants from the peer; unknown or closed connections are ignored. */
  onGrants(grants: readonly Grant[]): void {
    for (const g of grants) this.conns.get(g.connectID)?.grant(g.bytes);
  }

  /** A batch from the peer: its grants, and the connections it is blocked on (which may grow their windows). */
  onCredits(batch: CreditBatch): void {
    this.onGrants(batch.grants);
    for (const id of batch.blocked) this.conns.get(id)?.peerBlocked();
  }

  /** The Connect stream or the Credits stream is gone: every connection closes (waiters resume). Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const c of [...this.conns.values()]) c.close();
    this.owing.clear();
    this.blockedNow.clear();
    this.writer = undefined;
  }

  /** @internal a connection owes a grant. */
  owe(c: ConnFlow): void {
    this.owing.add(c);
    if (this.writer) this.scheduleFlush();
  }

  /** @internal a connection ran out of credit: the peer hears of it with the next batch. */
  blocked(c: ConnFlow): void {
    this.blockedNow.add(c);
    if (this.writer) this.scheduleFlush();
  }

  /** @internal a connection closed. */
  forget(c: ConnFlow): void {
    if (this.conns.get(c.connectID) === c) this.conns.delete(c.connectID);
    this.owing.delete(c);
    this.blockedNow.delete(c);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.defer(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const w = this.writer;
    if (!w || (this.owing.size === 0 && this.blockedNow.size === 0)) return;
    const grants: Grant[] = [];
    for (const c of this.owing) {
      const n = c.takeOwed();
      if (n > 0) grants.push({ connectID: c.connectID, bytes: n });
    }
    this.owing.clear();
    const blocked = [...this.blockedNow].map((c) => c.connectID);
    this.blockedNow.clear();
    if (grants.length > 0 || blocked.length > 0) w(encodeGrants(grants, blocked));
  }
}
