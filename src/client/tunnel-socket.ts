/**
 * TunnelSocket: a connection through the tunnel as a Node `Duplex`, close
 * enough to `net.Socket` for Node's http/https clients and tls.connect().
 *
 * - Readable: the DATA payloads, in order. Reading is pulled: while the
 *   readable buffer is full no packet is taken from the gRPC stream, so
 *   HTTP/2 flow control slows the sender down.
 * - Writable: each write becomes DATA packets of at most 1 MiB; write()
 *   returns false while the gRPC stream is congested.
 * - The protocol has no half-close. `end()` flushes the writes, sends
 *   CLOSE_REQ and finishes when CLOSE_RSP arrives (data arriving meanwhile
 *   is still readable); without CLOSE_RSP within `closeTimeoutMs` the socket
 *   is destroyed with "close timeout". `destroy()` sends CLOSE_REQ at once.
 *   A CLOSE_RSP from the server ends the readable side after all data; one
 *   with an error text destroys the socket with that text.
 * - `setTimeout` works as on net.Socket (idle timer, 'timeout' event);
 *   `setNoDelay`, `setKeepAlive`, `ref` and `unref` are accepted and do
 *   nothing (the gRPC channel has its own keepalive and lifetime).
 */
import { Duplex } from 'node:stream';
import { SOCKET_READ_HIGH_WATER_MARK, SOCKET_WRITE_HIGH_WATER_MARK } from './defaults.js';
import type { ProxyConnection } from './connection.js';
import type { ClientTimers } from './options.js';

/** A connection through the tunnel (one Proxy stream, single use). */
export class TunnelSocket extends Duplex {
  /** The connectID the agent assigned (DIAL_RSP). */
  readonly connectID: bigint;
  /** The dial id (`random`) of the DIAL_REQ. */
  readonly dialID: bigint;
  /** The address dialed through the tunnel, "host:port". */
  readonly dialAddress: string;
  /** Host part of the dialed address (like net.Socket's remoteAddress, but it may be a name). */
  readonly remoteAddress: string;
  /** Port part of the dialed address. */
  readonly remotePort: number | undefined;
  /** 'IPv4' or 'IPv6' when the dialed host is an IP literal. */
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  /** Always false: the socket exists only once connected (net.Socket compatibility). */
  readonly connecting = false;
  /** Always false (net.Socket compatibility). */
  readonly pending = false;
  /** Payload bytes received. */
  bytesRead = 0;
  /** Payload bytes sent. */
  bytesWritten = 0;
  /** The idle timeout set with setTimeout(), in ms (0 or undefined: none). */
  timeout: number | undefined;
  private lastActivity = 0;
  private idleTimer: unknown;

  /** Built by Tunnel.dial(); not meant to be constructed by users. */
  constructor(
    private readonly conn: ProxyConnection,
    info: { address: string; dialID: bigint },
    private readonly timers: ClientTimers,
  ) {
    super({
      allowHalfOpen: false,
      readableHighWaterMark: SOCKET_READ_HIGH_WATER_MARK,
      writableHighWaterMark: SOCKET_WRITE_HIGH_WATER_MARK,
    });
    this.connectID = conn.connectID;
    this.dialID = info.dialID;
    this.dialAddress = info.address;
    const { host, port } = splitHostPort(info.address);
    this.remoteAddress = host;
    this.remotePort = port;
    this.remoteFamily = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 'IPv4' : host.includes(':') ? 'IPv6' : undefined;
    conn.attach({
      onData: (chunk) => {
        this.bytesRead += chunk.length;
        this.touch();
        return this.push(chunk);
      },
      onEnd: () => {
        this.push(null);
      },
      onError: (err) => {
        this.destroy(err);
      },
    });
  }

  override _read(): void {
    this.conn.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.close().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.timers.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.conn.abort();
    cb(err);
  }

  /**
   * Emits 'timeout' after `ms` without bytes in either direction, like
   * net.Socket (the socket is not closed; that is the listener's job). 0 disables.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.timers.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.touch();
    return this;
  }

  /** Accepted for net.Socket compatibility; has no effect (no Nagle on a gRPC stream). */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** Accepted for net.Socket compatibility; the gRPC channel has its own keepalive. */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** Accepted for net.Socket compatibility; the tunnel's gRPC channel decides the process lifetime. */
  ref(): this {
    return this;
  }

  /** Accepted for net.Socket compatibility; the tunnel's gRPC channel decides the process lifetime. */
  unref(): this {
    return this;
  }

  /** Like net.Socket#destroySoon: end, then destroy once the end is done. Node's http client calls it. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  private send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.touch();
    this.conn.write(chunk).then(() => {
      this.bytesWritten += chunk.length;
      cb();
    }, cb);
  }

  /** Notes activity and (re)arms the idle timer when a timeout is set. */
  private touch(): void {
    if (!this.timeout || this.destroyed) return;
    this.lastActivity = this.timers.now();
    if (this.idleTimer === undefined) this.armIdle(this.timeout);
  }

  private armIdle(ms: number): void {
    this.idleTimer = this.timers.setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.timeout || this.destroyed) return;
      const idle = this.timers.now() - this.lastActivity;
      if (idle >= this.timeout) this.emit('timeout');
      else this.armIdle(this.timeout - idle);
    }, ms);
  }
}

/** Splits "host:port" and "[v6]:port"; a missing or bad port gives undefined. */
export function splitHostPort(address: string): { host: string; port: number | undefined } {
  const m = /^\[([^\]]*)\](?::(\d+))?$/.exec(address) ?? /^([^:]*)(?::(\d+))?$/.exec(address);
  if (!m) return { host: address, port: undefined };
  return { host: m[1]!, port: m[2] === undefined ? undefined : Number(m[2]) };
}
