/**
 * Test peers for the agent: a minimal fake proxy server (a grpc-js Server
 * with AgentService, TLS from the dev PKI) that records what agents send and
 * lets the test drive packets; the round-robin TCP balancer (tcp-balancer.ts)
 * under its older name; a TCP echo target; a logger that keeps its records.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { DevPkiFiles } from '../../src/certs/dev-ca.js';
import type { Logger } from '../../src/observability/logger.js';
import type { Packet } from '../../src/protocol/index.js';
import { GrpcPacketStream } from '../../src/transport/packet-stream.js';
import { agentServiceDefinition, MD } from '../../src/transport/services.js';

/** A refusal before headers, as a server's authentication would send it. */
export interface Refusal {
  code: grpc.status;
  message: string;
}

/** Options of a FakeProxyServer. */
export interface FakeProxyServerOptions {
  serverID: string;
  /** Sent as `servercount`; default 1. */
  serverCount?: number;
  pki: DevPkiFiles;
  /** Require and verify an agent client certificate. */
  requireClientCert?: boolean;
  /** Refuse a Connect (before headers) when this returns a refusal. */
  refuse?: (metadata: Record<string, string[]>) => Refusal | undefined;
  /** Replace the response headers entirely (to send bad ones). */
  headers?: Record<string, string[]>;
}

/** One agent stream as the fake server sees it. */
export class FakeAgentStream {
  readonly received: Packet[] = [];
  private readonly waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  private readonly taken = new Set<number>();
  /** Resolves when the stream is over (agent closed it, or the server did). */
  readonly ended: Promise<void>;

  constructor(
    readonly metadata: Record<string, string[]>,
    /** Common name of the client certificate the agent presented, if any. */
    readonly clientCertCN: string | undefined,
    readonly stream: GrpcPacketStream,
  ) {
    this.ended = this.readLoop();
  }

  /** Sends a packet to the agent. */
  send(p: Packet): void {
    this.stream.write(p);
  }

  /** The next received packet matching `match` not yet returned (waits for it). */
  next(match: (p: Packet) => boolean = () => true): Promise<Packet> {
    for (let i = 0; i < this.received.length; i++) {
      if (!this.taken.has(i) && match(this.received[i]!)) {
        this.taken.add(i);
        return Promise.resolve(this.received[i]!);
      }
    }
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Ends the stream from the server side (OK status). */
  end(): void {
    this.stream.close();
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const p of this.stream) {
        this.received.push(p);
        const i = this.received.length - 1;
        const w = this.waiters.findIndex((x) => x.match(p));
        if (w >= 0) {
          this.taken.add(i);
          this.waiters.splice(w, 1)[0]!.resolve(p);
        }
      }
    } catch {
      /* stream cancelled or failed: over either way */
    }
    await this.stream.done;
  }
}

/** A minimal konnectivity proxy server: AgentService.Connect on 127.0.0.1 with TLS. */
export class FakeProxyServer {
  /** Every accepted stream (after headers), in order. */
  readonly streams: FakeAgentStream[] = [];
  /** Metadata of every Connect, refused or not. */
  readonly attempts: Record<string, string[]>[] = [];
  private waiters: ((s: FakeAgentStream) => void)[] = [];
  private handed = 0;

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    readonly opts: FakeProxyServerOptions,
  ) {}

  static async start(opts: FakeProxyServerOptions): Promise<FakeProxyServer> {
    const server = new grpc.Server();
    let self: FakeProxyServer | undefined;
    server.addService(agentServiceDefinition, {
      Connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => self!.onConnect(call),
    });
    const creds = grpc.ServerCredentials.createSsl(
      readFileSync(opts.pki.caCert),
      [{ cert_chain: readFileSync(opts.pki.serverCert), private_key: readFileSync(opts.pki.serverKey) }],
      opts.requireClientCert ?? false,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    self = new FakeProxyServer(server, port, opts);
    return self;
  }

  /** The next accepted stream not yet handed out (waits for it). */
  nextStream(): Promise<FakeAgentStream> {
    if (this.handed < this.streams.length) return Promise.resolve(this.streams[this.handed++]!);
    return new Promise((r) => this.waiters.push(r));
  }

  /** Kills the server: every stream and connection is dropped at once. */
  stop(): void {
    this.server.forceShutdown();
  }

  private onConnect(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const md: Record<string, string[]> = {};
    for (const key of Object.keys(call.metadata.getMap())) md[key] = call.metadata.get(key).map(String);
    this.attempts.push(md);
    const stream = new GrpcPacketStream(call, 'server');
    const refusal = this.opts.refuse?.(md);
    if (refusal) {
      stream.close({ code: refusal.code, message: refusal.message });
      return;
    }
    const header = new grpc.Metadata();
    const headers = this.opts.headers ?? {
      [MD.serverID]: [this.opts.serverID],
      [MD.serverCount]: [String(this.opts.serverCount ?? 1)],
    };
    for (const [k, vs] of Object.entries(headers)) for (const v of vs) header.add(k, v);
    call.sendMetadata(header);
    const cert = call.getAuthContext()?.sslPeerCertificate;
    const cn = cert?.subject?.CN;
    const s = new FakeAgentStream(md, Array.isArray(cn) ? cn[0] : cn, stream);
    this.streams.push(s);
    const w = this.waiters.shift();
    if (w) {
      this.handed++;
      w(s);
    }
  }
}

/** The round-robin balancer, under its older name (see tcp-balancer.ts). */
export { TcpBalancer as RoundRobinForwarder } from './tcp-balancer.js';

/** A TCP echo server on 127.0.0.1 that tracks its sockets. */
export class EchoTarget {
  readonly sockets = new Set<net.Socket>();
  private closeWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoTarget> {
    let self: EchoTarget | undefined;
    const server = net.createServer((s) => {
      self!.sockets.add(s);
      s.on('error', () => undefined);
      s.pipe(s);
      s.once('close', () => {
        self!.sockets.delete(s);
        if (self!.sockets.size === 0) {
          const w = self!.closeWaiters;
          self!.closeWaiters = [];
          for (const r of w) r();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new EchoTarget(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once no connection is open. */
  allClosed(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((r) => this.closeWaiters.push(r));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/** A debug-level logger that keeps every record, for asserting what operators would read. */
export function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.printf((info) => JSON.stringify(info, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
  return { logger, records };
}

/** Polls `cond` every 10 ms until it holds; fails after timeoutMs. For state that has no event. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
