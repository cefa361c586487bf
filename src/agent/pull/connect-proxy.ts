/**
 * The local HTTP CONNECT proxy (--pull-proxy=ADDR:PORT): `CONNECT NAME:PORT`
 * opens a pull connection to target NAME (the port is not used) and answers
 * `HTTP/1.1 200 Connection Established`, then splices the bytes. A refusal
 * is answered with a status that says why and the error text as the body:
 *
 * | error | status |
 * |---|---|
 * | ERR_PULL_BAD_ADDRESS | 400 Bad Request |
 * | ERR_PULL_NOT_ALLOWED | 403 Forbidden |
 * | ERR_PULL_TOO_MANY | 429 Too Many Requests |
 * | ERR_PULL_UNAVAILABLE, ERR_PULL_SHUTTING_DOWN | 503 Service Unavailable |
 * | ERR_PULL_DIAL_TIMEOUT, ERR_PULL_CANCELLED | 504 Gateway Timeout |
 * | anything else (target unreachable, not configured, refused stream) | 502 Bad Gateway |
 *
 * Other methods get 405 (upstream's text: the proxy only does CONNECT).
 */
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelDialer } from '../../client/http-agent.js';
import type { Logger } from '../../observability/logger.js';
import { TEXT } from '../../protocol/index.js';
import { PullError, type PullErrorCode } from '../../transport/pull-errors.js';
import type { PullProxyListen } from './config.js';
import { PULL_TIMING } from './defaults.js';
import { closeServer, listenOn } from './listen.js';
import { splice } from './splice.js';

const STATUS: Partial<Record<PullErrorCode, [number, string]>> = {
  ERR_PULL_BAD_ADDRESS: [400, 'Bad Request'],
  ERR_PULL_NOT_ALLOWED: [403, 'Forbidden'],
  ERR_PULL_TOO_MANY: [429, 'Too Many Requests'],
  ERR_PULL_UNAVAILABLE: [503, 'Service Unavailable'],
  ERR_PULL_SHUTTING_DOWN: [503, 'Service Unavailable'],
  ERR_PULL_DIAL_TIMEOUT: [504, 'Gateway Timeout'],
  ERR_PULL_CANCELLED: [504, 'Gateway Timeout'],
};

/** The HTTP status for a failed pull dial. */
export function connectStatus(err: unknown): [number, string] {
  return (err instanceof PullError ? STATUS[err.code] : undefined) ?? [502, 'Bad Gateway'];
}

/** A running CONNECT proxy. */
export class ConnectProxy {
  private readonly sockets = new Set<Duplex>();
  private closing = false;

  private constructor(
    private readonly server: http.Server,
    /** The bound port. */
    readonly port: number,
  ) {}

  /** Starts listening; rejects with AgentConfigError when the address cannot be bound. */
  static async start(listen: PullProxyListen, dialer: TunnelDialer, logger: Logger): Promise<ConnectProxy> {
    const log = logger.child({ listener: 'pull-proxy' });
    let self: ConnectProxy | undefined;
    const server = http.createServer({ maxHeaderSize: PULL_TIMING.proxyMaxHeaderBytes }, (req, res) => {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', allow: 'CONNECT' });
      res.end(`${TEXT.httpOnlyConnect}\n`);
      req.resume();
    });
    server.headersTimeout = PULL_TIMING.proxyHeaderTimeoutMs;
    server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => self?.connect(req, socket, head, dialer, log));
    server.on('connection', (s: net.Socket) => self?.track(s));
    const port = await listenOn(server, listen.host, listen.port, '--pull-proxy');
    self = new ConnectProxy(server, port);
    return self;
  }

  /** Stops accepting and destroys every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = closeServer(this.server);
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private connect(req: http.IncomingMessage, socket: Duplex, head: Buffer, dialer: TunnelDialer, log: Logger): void {
    socket.on('error', () => undefined);
    const target = req.url ?? '';
    dialer.dial(target).then(
      (remote) => {
        this.track(remote);
        remote.on('error', () => undefined);
        if (this.closing || socket.destroyed) {
          remote.destroy();
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        splice(socket, remote, head);
      },
      (e: Error) => {
        const [code, text] = connectStatus(e);
        log.debug('CONNECT refused', { target, status: code, error: e.message });
        const body = `${e.message}\n`;
        socket.end(
          `HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        // The client may keep its side open: the socket goes at the latest after the linger.
        const t = setTimeout(() => socket.destroy(), PULL_TIMING.spliceLingerMs);
        t.unref();
        socket.once('close', () => clearTimeout(t));
      },
    );
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}
