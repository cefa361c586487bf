/**
 * A port forward (--pull-listen=NAME=ADDR:PORT): every TCP connection to
 * ADDR:PORT becomes a pull connection to target NAME, bytes spliced both
 * ways. A dial that fails closes the local connection (the reason is logged
 * and counted by the pull client).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelDialer } from '../../client/http-agent.js';
import type { Logger } from '../../observability/logger.js';
import type { PullListen } from './config.js';
import { closeServer, listenOn } from './listen.js';
import { splice } from './splice.js';

/** A running port forward. */
export class PortForward {
  private readonly sockets = new Set<Duplex>();
  private closing = false;

  private constructor(
    private readonly server: net.Server,
    /** The bound port. */
    readonly port: number,
  ) {}

  /** Starts listening; rejects with AgentConfigError when the address cannot be bound. */
  static async start(listen: PullListen, dialer: TunnelDialer, logger: Logger): Promise<PortForward> {
    const log = logger.child({ listener: `pull-listen ${listen.name}` });
    let self: PortForward | undefined;
    const server = net.createServer({ pauseOnConnect: true }, (socket) => self?.accept(socket, listen.name, dialer, log));
    const port = await listenOn(server, listen.host, listen.port, `--pull-listen=${listen.name}`);
    self = new PortForward(server, port);
    return self;
  }

  /** Stops accepting and destroys every forwarded connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = closeServer(this.server);
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private accept(socket: net.Socket, name: string, dialer: TunnelDialer, log: Logger): void {
    this.track(socket);
    socket.on('error', () => undefined);
    dialer.dial(name).then(
      (remote) => {
        this.track(remote);
        remote.on('error', () => undefined);
        if (this.closing || socket.destroyed) {
          remote.destroy();
          socket.destroy();
          return;
        }
        splice(socket, remote);
        socket.resume();
      },
      (e: Error) => {
        log.debug('forwarded connection closed: the pull dial failed', { peer: socket.remoteAddress, error: e.message });
        socket.destroy();
      },
    );
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}
