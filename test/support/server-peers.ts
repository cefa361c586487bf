/**
 * Minimal test peers for the tunnel server, built on GrpcPacketStream:
 * a raw gRPC agent that dials real 127.0.0.1 TCP targets, a raw gRPC Proxy
 * client, and a TCP echo target. Deliberately small and independent of
 * src/agent and src/client.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  closeRsp,
  data,
  dialReq,
  dialRsp,
  type Packet,
  PacketType,
  randomDialID,
} from '../../src/protocol/index.js';
import type { ServerConfig } from '../../src/server/config.js';
import { GrpcPacketStream, type PacketStream } from '../../src/transport/packet-stream.js';
import { CONNECT_PATH, MD, PROXY_PATH } from '../../src/transport/services.js';

const id = (b: Buffer): Buffer => b;

/** Reads packets one at a time from a PacketStream. */
export class PacketReader {
  private readonly it: AsyncIterator<Packet>;
  constructor(stream: PacketStream) {
    this.it = stream[Symbol.asyncIterator]();
  }
  /** The next packet; rejects when the stream ends first (with its error, if any). */
  async next(): Promise<Packet> {
    const r = await this.it.next();
    if (r.done) throw new Error('stream ended');
    return r.value;
  }
  /** Resolves with the error the stream ends with, or 'ended' when it ends cleanly. Packets are skipped. */
  async end(): Promise<string> {
    try {
      for (;;) {
        const r = await this.it.next();
        if (r.done) return 'ended';
      }
    } catch (e) {
      return (e as Error).message;
    }
  }
}

/** TLS material for a peer, as file paths. */
export interface PeerTls {
  caCert: string;
  cert?: string;
  key?: string;
}

function sslCreds(t: PeerTls): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    readFileSync(t.caCert),
    t.key ? readFileSync(t.key) : null,
    t.cert ? readFileSync(t.cert) : null,
  );
}

/** Options of a TestAgent. */
export interface TestAgentOptions {
  agentPort: number;
  tls: PeerTls;
  /** Repeated `agentid` values; [] sends none. */
  agentIDs?: string[];
  agentID?: string;
  identifiers?: string;
  authorization?: string;
  /** More Connect request metadata (e.g. a flow-control announcement). */
  metadata?: Record<string, string>;
}

/**
 * A raw agent: opens AgentService.Connect, dials TCP targets on DIAL_REQ,
 * relays bytes, answers CLOSE_REQ with CLOSE_RSP.
 */
export class TestAgent {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly stream: GrpcPacketStream;
  /** Response headers (serverid, servercount). */
  readonly headers: Promise<grpc.Metadata>;
  /** The final gRPC status. */
  readonly status: Promise<grpc.StatusObject>;
  /** Open target sockets by connectID. */
  readonly sockets = new Map<bigint, net.Socket>();
  /** DIAL_REQs seen (address), and DIAL_CLS randoms seen. */
  readonly dials: string[] = [];
  /** The dial ids of those DIAL_REQs. */
  readonly dialRandoms: bigint[] = [];
  readonly dialCloses: bigint[] = [];
  readonly closeRequests: bigint[] = [];
  /** When false, DIAL_REQs are recorded but not answered. */
  answerDials = true;
  /** Resolves when the agent's packet loop ends. */
  readonly done: Promise<void>;
  private nextConnID = 0n;
  private readonly waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(opts: TestAgentOptions) {
    this.client = new grpc.Client(`localhost:${opts.agentPort}`, sslCreds(opts.tls));
    const md = new grpc.Metadata();
    for (const a of opts.agentIDs ?? [opts.agentID ?? 'agent-1']) md.add(MD.agentID, a);
    md.set(MD.agentIdentifiers, opts.identifiers ?? '');
    if (opts.authorization) md.set(MD.authorization, opts.authorization);
    for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
    this.call = this.client.makeBidiStreamRequest(CONNECT_PATH, id, id, md);
    this.headers = new Promise((resolve, reject) => {
      this.call.once('metadata', resolve);
      this.call.once('status', (s: grpc.StatusObject) => reject(new Error(`${s.code} ${s.details}`)));
    });
    this.headers.catch(() => undefined);
    this.status = new Promise((resolve) => this.call.once('status', resolve));
    this.stream = new GrpcPacketStream(this.call, 'client', 'test-agent');
    this.done = this.loop();
  }

  /** Resolves once pred() holds (checked after every packet). */
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Sends a packet to the server. */
  send(p: Packet): void {
    this.stream.write(p);
  }

  /** Ends the agent: closes target sockets and the gRPC client. */
  close(): void {
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
    this.stream.close();
    this.call.cancel();
    this.client.close();
  }

  private async loop(): Promise<void> {
    try {
      for await (const p of this.stream) {
        this.onPacket(p);
        this.wake();
      }
    } catch {
      // the stream failed; status carries the reason
    } finally {
      for (const s of this.sockets.values()) s.destroy();
      this.sockets.clear();
      this.wake();
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (w.pred()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  private onPacket(p: Packet): void {
    switch (p.type) {
      case PacketType.DIAL_REQ: {
        this.dials.push(p.dialRequest.address);
        this.dialRandoms.push(p.dialRequest.random);
        if (this.answerDials) this.dial(p.dialRequest.address, p.dialRequest.random);
        break;
      }
      case PacketType.DATA:
        this.sockets.get(p.data.connectID)?.write(p.data.data);
        break;
      case PacketType.CLOSE_REQ: {
        const cid = p.closeRequest.connectID;
        this.closeRequests.push(cid);
        const s = this.sockets.get(cid);
        this.sockets.delete(cid);
        s?.destroy();
        this.send(closeRsp(cid));
        break;
      }
      case PacketType.DIAL_CLS:
        this.dialCloses.push(p.closeDial.random);
        break;
      default:
        break;
    }
  }

  /** Dials a target and answers with DIAL_RSP; used on DIAL_REQ and by tests answering late. */
  dial(address: string, random: bigint): void {
    const cid = ++this.nextConnID;
    const i = address.lastIndexOf(':');
    const sock = net.connect({ host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) });
    sock.once('connect', () => {
      this.sockets.set(cid, sock);
      this.send(dialRsp(random, cid));
      sock.on('data', (chunk: Buffer) => this.send(data(cid, chunk)));
      this.wake();
    });
    sock.once('error', (e) => {
      if (!this.sockets.has(cid)) this.send(dialRsp(random, 0n, e.message));
    });
    sock.once('close', () => {
      if (this.sockets.get(cid) === sock) {
        this.sockets.delete(cid);
        this.send(closeRsp(cid));
      }
    });
  }
}

/** Where a Proxy client connects. */
export type FrontendTarget = { uds: string } | { port: number; tls: PeerTls };

/** A raw ProxyService client: one Proxy stream. */
export class TestProxyClient {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly stream: GrpcPacketStream;
  readonly reader: PacketReader;
  readonly status: Promise<grpc.StatusObject>;

  constructor(target: FrontendTarget, options: grpc.ChannelOptions = {}) {
    this.client =
      'uds' in target
        ? new grpc.Client(`unix://${target.uds}`, grpc.credentials.createInsecure(), options)
        : new grpc.Client(`localhost:${target.port}`, sslCreds(target.tls), options);
    this.call = this.client.makeBidiStreamRequest(PROXY_PATH, id, id);
    this.status = new Promise((resolve) => this.call.once('status', resolve));
    this.stream = new GrpcPacketStream(this.call, 'client', 'test-client');
    this.reader = new PacketReader(this.stream);
  }

  /** Sends DIAL_REQ and returns the DIAL_RSP. */
  async dial(address: string, random = randomDialID()): Promise<Extract<Packet, { type: 1 }>['dialResponse']> {
    this.stream.write(dialReq(address, random));
    const p = await this.reader.next();
    if (p.type !== PacketType.DIAL_RSP) throw new Error(`expected DIAL_RSP, got ${p.type}`);
    return p.dialResponse;
  }

  /** Reads DATA packets until `n` bytes arrived; returns them. */
  async readBytes(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const p = await this.reader.next();
      if (p.type !== PacketType.DATA) throw new Error(`expected DATA, got ${p.type}`);
      parts.push(Buffer.from(p.data.data));
      got += p.data.data.length;
    }
    return Buffer.concat(parts);
  }

  /** Ends the stream and the channel. */
  close(): void {
    this.stream.close();
    this.client.close();
  }
}

/** A TCP echo server on 127.0.0.1 that tracks its sockets. */
export async function startEchoServer(): Promise<{ port: number; address: string; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A ServerConfig for tests: ephemeral ports on 127.0.0.1, no health/admin unless asked. */
export function testServerConfig(pki: { caCert: string; serverCert: string; serverKey: string }, over: Partial<ServerConfig> = {}): ServerConfig {
  return {
    serverID: 'server-test',
    serverCount: 1,
    enableLeaseController: false,
    leaseNamespace: 'kube-system',
    leaseLabels: { 'k8s-app': 'konnectivity-server' },
    udsName: '',
    deleteExistingUdsFile: true,
    serverPort: 0,
    serverBindAddress: '127.0.0.1',
    serverCert: pki.serverCert,
    serverKey: pki.serverKey,
    serverCaCert: pki.caCert,
    agentPort: 0,
    agentBindAddress: '127.0.0.1',
    clusterCert: pki.serverCert,
    clusterKey: pki.serverKey,
    clusterCaCert: pki.caCert,
    bindAgentIdToCn: false,
    healthPort: -1,
    healthBindAddress: '127.0.0.1',
    adminPort: -1,
    adminBindAddress: '127.0.0.1',
    proxyStrategies: ['default'],
    mode: 'grpc',
    keepaliveTimeMs: 3_600_000,
    frontendKeepaliveTimeMs: 3_600_000,
    backendDialTimeoutMs: 0,
    gracefulShutdownTimeoutMs: 0,
    xfrChannelSize: 10,
    tlsMinVersion: 'TLSv1.2',
    cipherSuites: [],
    agentNamespace: '',
    agentServiceAccount: '',
    authenticationAudience: '',
    kubeconfig: '',
    allowEphemeralPorts: true,
    ...over,
  };
}
