/**
 * The client library's default transport: gRPC spoken directly over
 * Node's HTTP/2 (node:http2), one HTTP/2 connection per tunnel, one stream
 * per dial, exactly what the grpc-js channel sends on the wire (the same
 * method path, headers, length-prefixed messages and trailers), minus
 * grpc-js's per-message work: a DATA payload is passed to the socket as the
 * HTTP/2 frames bring it, without being collected and copied (see
 * transport/grpc-messages.ts). `transport: 'grpc-js'` keeps the grpc-js
 * channel.
 *
 * Like a grpc-js channel it connects lazily again after the connection was
 * lost (the next dial opens a new one), and keeps the process alive only
 * while a stream is open.
 */
import { status as Status } from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import type { Packet } from '../protocol/index.js';
import { drainOrClose } from '../transport/drain.js';
import { frameMessage } from '../transport/grpc-messages.js';
import { readPackets } from '../transport/h2-packets.js';
import type { PacketStream, StreamCloseReason } from '../transport/packet-stream.js';
import { StreamClosedError } from '../transport/packet-stream.js';
import { PROXY_PATH } from '../transport/services.js';
import { TunnelError } from './errors.js';


/** What a Tunnel needs from its connection to the proxy server. */
export interface TunnelTransport {
  /** The proxy server, for logs and errors: "unix:/path" or "host:port". */
  readonly target: string;
  /** Resolves once the server is reachable; rejects with TunnelError ERR_TUNNEL_CONNECT. */
  ready(timeoutMs: number): Promise<void>;
  /** Opens one Proxy stream. Throws if the transport is closed. */
  openStream(): PacketStream;
  /** Closes the connection; streams still open are cut. */
  close(): void;
}

/** Where and how the HTTP/2 transport connects. */
export interface H2TransportOptions {
  /** "unix:/path" or "host:port", for logs and errors. */
  target: string;
  /** Opens the socket (Unix socket), or undefined for TLS to `authorityURL`. */
  createConnection?: () => net.Socket;
  /** "http://localhost" (Unix socket) or "https://host:port". */
  authorityURL: string;
  /** The :authority sent (grpc-js sends the same). */
  authority: string;
  /** TLS options (ca, cert, key, servername) for https. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer; servername?: string };
  /** Receive window per stream and for the connection. */
  window: number;
  /** Largest message accepted. */
  maxMessageBytes: number;
  /** Interval of keepalive PINGs while the connection is open; 0 for none. */
  keepaliveMs: number;
  /** How long a PING may go unanswered before the connection is dropped. */
  keepaliveTimeoutMs: number;
  /** user-agent header. */
  userAgent: string;
}

export class H2Transport implements TunnelTransport {
  readonly target: string;
  private session: http2.ClientHttp2Session | undefined;
  private closed = false;
  private readonly openStreams = new WeakMap<http2.ClientHttp2Session, number>();

  constructor(private readonly opts: H2TransportOptions) {
    this.target = opts.target;
  }

  ready(timeoutMs: number): Promise<void> {
    const s = this.current();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs);
      const cleanup = (): void => {
        settled = true;
        clearTimeout(timer);
        s.off('remoteSettings', ok);
        s.off('error', onError);
        s.off('close', onClose);
      };
      // Ready once the server's SETTINGS arrived: with TLS 1.3 a server that
      // refuses our certificate says so only after our side of the handshake is done.
      const ok = (): void => {
        if (settled) return;
        cleanup();
        resolve();
      };
      const fail = (why: string): void => {
        if (settled) return;
        cleanup();
        s.destroy();
        reject(new TunnelError('ERR_TUNNEL_CONNECT', `cannot connect to the proxy server at ${this.target}: ${why}`));
      };
      const onError = (e: Error): void => fail(e.message);
      const onClose = (): void => fail('the connection closed');
      s.once('remoteSettings', ok);
      s.once('error', onError);
      s.once('close', onClose);
    });
  }

  openStream(): PacketStream {
    if (this.closed) throw new TunnelError('ERR_TUNNEL_CLOSED', 'the tunnel is closed');
    let s = this.current();
    const headers = {
      ':method': 'POST',
      ':path': PROXY_PATH,
      ':authority': this.opts.authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
      'user-agent': this.opts.userAgent,
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = s.request(headers, { endStream: false });
    } catch (e) {
      // A connection that has used up its 2^31 stream ids: go on on a new one.
      if ((e as { code?: string }).code !== 'ERR_HTTP2_OUT_OF_STREAMS') throw e;
      s.close();
      s = this.current();
      req = s.request(headers, { endStream: false });
    }
    // Keep the process alive while a stream is open, not longer (as grpc-js does).
    const open = this.openStreams.get(s) ?? 0;
    if (open === 0) s.ref();
    this.openStreams.set(s, open + 1);
    req.once('close', () => {
      const left = (this.openStreams.get(s) ?? 1) - 1;
      this.openStreams.set(s, left);
      if (left === 0 && !s.destroyed) s.unref();
    });
    return new H2PacketStream(req, this.target, this.opts.maxMessageBytes);
  }

  close(): void {
    this.closed = true;
    this.session?.close();
  }

  /** The open connection, or a new one when there is none (never connected, lost, or ended by GOAWAY). */
  private current(): http2.ClientHttp2Session {
    const old = this.session;
    if (old && !old.closed && !old.destroyed) return old;
    const o = this.opts;
    const settings: http2.Settings = { initialWindowSize: o.window, enablePush: false };
    const s = o.createConnection
      ? http2.connect(o.authorityURL, { settings, createConnection: o.createConnection })
      : http2.connect(o.authorityURL, {
          settings,
          ca: o.tls?.ca,
          cert: o.tls?.cert,
          key: o.tls?.key,
          servername: o.tls?.servername,
          ALPNProtocols: ['h2'],
        });
    s.on('error', () => undefined); // reported through ready() and the streams
    s.once('connect', () => {
      if (o.window > 65_535) s.setLocalWindowSize(o.window);
    });
    s.unref();
    if (o.keepaliveMs > 0) this.keepalive(s);
    this.session = s;
    s.once('close', () => {
      if (this.session === s) this.session = undefined;
    });
    return s;
  }

  /** PINGs every keepaliveMs; no answer within keepaliveTimeoutMs drops the connection. */
  private keepalive(s: http2.ClientHttp2Session): void {
    const { keepaliveMs, keepaliveTimeoutMs } = this.opts;
    const every = setInterval(() => {
      if (s.connecting) return;
      const deadline = setTimeout(() => s.destroy(new Error('keepalive ping not answered')), keepaliveTimeoutMs);
      deadline.unref();
      try {
        s.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, keepaliveMs);
    every.unref();
    s.once('close', () => clearInterval(every));
  }
}

/** The client side of one Proxy stream over node:http2. */
export class H2PacketStream implements PacketStream {
  closed = false;
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private status: { code: number; message: string } | undefined;
  private drainWait: Promise<void> | undefined;

  constructor(
    private readonly req: http2.ClientHttp2Stream,
    readonly peer: string,
    private readonly maxMessageBytes: number,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    req.on('response', (h) => {
      const httpStatus = Number(h[':status']);
      if (h['grpc-status'] !== undefined) this.setStatus(h); // trailers-only answer
      else if (httpStatus !== 200) this.status = httpStatusToGrpc(httpStatus);
    });
    req.on('trailers', (h) => this.setStatus(h));
    req.on('error', () => undefined); // surfaced through the iterator
    req.once('close', () => {
      this.closed = true;
      this.resolveDone();
    });
  }

  write(p: Packet, onWritten?: () => void): boolean {
    if (this.closed || this.req.writableEnded || this.req.destroyed) return false;
    return this.req.write(frameMessage(p), onWritten);
  }

  drained(): Promise<void> {
    const r = this.req;
    if (this.closed || !r.writableNeedDrain) return Promise.resolve();
    // One wait shared by every caller.
    this.drainWait ??= drainOrClose(r).then(() => {
      this.drainWait = undefined;
    });
    return this.drainWait;
  }

  /** Packets in order (see readPackets); ends with the server's status. Single use. */
  [Symbol.asyncIterator](): AsyncIterator<Packet> {
    return readPackets(this.req, this.maxMessageBytes, {
      malformed: (e) => this.close({ code: Status.INTERNAL, message: e.message }),
      ended: () => {
        const st = this.status ?? { code: Status.UNKNOWN, message: 'the server ended the stream without a gRPC status' };
        if (st.code !== Status.OK) throw new StreamClosedError(st.message, st.code);
      },
      broken: (e) => this.streamError(e),
      stopped: () => this.close({ code: Status.CANCELLED, message: 'reader stopped' }),
    });
  }

  close(reason?: StreamCloseReason): void {
    if (this.closed) {
      if (reason && !this.req.destroyed) this.req.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    this.closed = true;
    if (reason) this.req.close(http2.constants.NGHTTP2_CANCEL);
    else if (!this.req.writableEnded) this.req.end();
    this.resolveDone();
  }

  private setStatus(h: http2.IncomingHttpHeaders): void {
    const code = Number(h['grpc-status']);
    const raw = h['grpc-message'];
    let message = typeof raw === 'string' ? raw : '';
    try {
      message = decodeURIComponent(message);
    } catch {
      // not percent-encoded as the spec asks: keep it as sent
    }
    this.status = { code: Number.isInteger(code) ? code : Status.UNKNOWN, message };
  }

  /** The stream broke before its status: a StreamClosedError with the closest gRPC code. */
  private streamError(e: unknown): StreamClosedError {
    if (this.status && this.status.code !== Status.OK) return new StreamClosedError(this.status.message, this.status.code);
    const rst = this.req.rstCode;
    const msg = (e as Error | undefined)?.message ?? String(e);
    if (rst === http2.constants.NGHTTP2_CANCEL) return new StreamClosedError(`stream cancelled: ${msg}`, Status.CANCELLED);
    if (rst === http2.constants.NGHTTP2_REFUSED_STREAM) return new StreamClosedError(`stream refused: ${msg}`, Status.UNAVAILABLE);
    if (rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR) {
      return new StreamClosedError(`stream reset (HTTP/2 error ${rst}): ${msg}`, Status.INTERNAL);
    }
    return new StreamClosedError(msg, Status.UNAVAILABLE); // the connection failed or went away
  }
}

/** The gRPC codes the gRPC spec gives non-200 HTTP answers; any other is UNKNOWN. */
const GRPC_CODE_FOR_HTTP: Readonly<Record<number, Status>> = {
  400: Status.INTERNAL,
  401: Status.UNAUTHENTICATED,
  403: Status.PERMISSION_DENIED,
  404: Status.UNIMPLEMENTED,
  429: Status.UNAVAILABLE,
  502: Status.UNAVAILABLE,
  503: Status.UNAVAILABLE,
  504: Status.UNAVAILABLE,
};

/** The gRPC status for a non-200 HTTP answer. */
function httpStatusToGrpc(s: number): { code: number; message: string } {
  return { code: GRPC_CODE_FOR_HTTP[s] ?? Status.UNKNOWN, message: `the server answered HTTP ${s}` };
}
