/**
 * A TCP round-robin load balancer on 127.0.0.1 for HA tests, standing in for
 * the cloud load balancer in front of the server replicas' agent ports. Like
 * a plain L4 balancer without health checks, it sends each new connection to
 * the next backend in turn, and when that backend refuses, it closes the
 * client connection (the agent sees a failed attempt and backs off). Backends
 * can be added and removed while it runs; it counts connections per backend.
 */
import net from 'node:net';

/** Connections of one backend port. */
export interface BackendCounts {
  /** Forwarded connections open right now. */
  open: number;
  /** Connections sent to it since start (including refused ones). */
  total: number;
  /** Connections it refused (nothing listening, reset). */
  refused: number;
}

/** One forwarded connection, in the order they came. */
export interface ForwardedLink {
  backend: number;
  /** Bytes from the client (the agent) to the backend, and back. */
  toBackend: number;
  toClient: number;
  /** Cuts the connection (both sides). */
  destroy(): void;
}

/** A round-robin TCP forwarder to backend ports on 127.0.0.1. */
export class TcpBalancer {
  /** Every connection forwarded since start, in order. */
  readonly links: ForwardedLink[] = [];
  private list: number[];
  private next = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly stats = new Map<number, BackendCounts>();

  private constructor(
    private readonly server: net.Server,
    /** The balancer's own port (what agents dial). */
    readonly port: number,
    backends: number[],
  ) {
    this.list = [...backends];
  }

  /** Starts a balancer on an ephemeral 127.0.0.1 port. */
  static async start(backends: number[] = []): Promise<TcpBalancer> {
    let self: TcpBalancer | undefined;
    const server = net.createServer((s) => self!.forward(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new TcpBalancer(server, (server.address() as net.AddressInfo).port, backends);
    return self;
  }

  /** The backend ports, in turn order. Assigning replaces them (open connections stay). */
  get backends(): number[] {
    return [...this.list];
  }

  set backends(ports: number[]) {
    this.list = [...ports];
  }

  /** Adds a backend at the end of the turn (no-op if present). */
  addBackend(port: number): void {
    if (!this.list.includes(port)) this.list.push(port);
  }

  /** Takes a backend out of the turn; its open connections stay unless `closeOpen`. */
  removeBackend(port: number, closeOpen = false): void {
    this.list = this.list.filter((p) => p !== port);
    if (closeOpen) for (const s of this.sockets) if ((s as TaggedSocket).backend === port) s.destroy();
  }

  /** Connection counts of a backend (zeros if it never got one). */
  counts(port: number): BackendCounts {
    return { ...(this.stats.get(port) ?? { open: 0, total: 0, refused: 0 }) };
  }

  /** Forwarded connections open right now, over all backends. */
  get openConnections(): number {
    let n = 0;
    for (const c of this.stats.values()) n += c.open;
    return n;
  }

  /** Closes every forwarded connection and the listener. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  /** Same as stop() (the name the older RoundRobinForwarder used). */
  close(): Promise<void> {
    return this.stop();
  }

  private counter(port: number): BackendCounts {
    let c = this.stats.get(port);
    if (!c) this.stats.set(port, (c = { open: 0, total: 0, refused: 0 }));
    return c;
  }

  private forward(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.list.length === 0) {
      client.destroy();
      return;
    }
    const port = this.list[this.next++ % this.list.length]!;
    const c = this.counter(port);
    c.total++;
    const upstream: TaggedSocket = net.connect(port, '127.0.0.1');
    upstream.backend = port;
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      c.open++;
    });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.once('close', () => {
      if (connected) c.open--;
      else c.refused++;
    });
    const link: ForwardedLink = {
      backend: port,
      toBackend: 0,
      toClient: 0,
      destroy: () => {
        client.destroy();
        upstream.destroy();
      },
    };
    this.links.push(link);
    client.on('data', (b: Buffer) => (link.toBackend += b.length));
    upstream.on('data', (b: Buffer) => (link.toClient += b.length));
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

type TaggedSocket = net.Socket & { backend?: number };
