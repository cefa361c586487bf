/**
 * Peers for the flow-control tests: an in-process server and agent with
 * their admin ports, a firehose target (sends a long numbered stream as fast
 * as the connection takes it), a sink target that stops reading on command,
 * a raw flow-capable server for the agent (AgentService.Connect plus
 * FlowService.Credits, scripted), and small readers of the admin views.
 */
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import type { ConnectionLimits } from '../../src/agent/limits.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import type { ServerConfig } from '../../src/server/config.js';
import { TunnelServer } from '../../src/server/index.js';
import type { ServerLimits } from '../../src/server/limits.js';
import { decodeGrants, encodeGrants, FLOW_MD, FLOW_SCHEME, flowServiceDefinition, type Grant } from '../../src/transport/flow-wire.js';
import { GrpcPacketStream } from '../../src/transport/packet-stream.js';
import { agentServiceDefinition, MD } from '../../src/transport/services.js';
import { EchoTarget, FakeAgentStream } from './agent-peers.js';
import { httpGet, metricSum } from './cli-procs.js';
import { testServerConfig } from './server-peers.js';
import { drainOrClose } from '../../src/transport/drain.js';

export const MiB = 1024 * 1024;

// ------------------------------------------------------------ per-file set-up

/** What a flow test file shares: set before its tests run (see flowTestEnv). */
export interface FlowTestEnv {
  /** A temp dir of its own, removed after the file. */
  dir: string;
  /** A dev PKI in it, with agent id cluster-a. */
  pki: DevPkiFiles;
  /** An echo target on 127.0.0.1. */
  echo: EchoTarget;
  /** Stopped after each test, last first. */
  cleanup: (() => unknown)[];
}

/** Registers the set-up and tear-down of a flow test file; call at its top level. */
export function flowTestEnv(tmpPrefix: string): FlowTestEnv {
  const env = { cleanup: [] as (() => unknown)[] } as FlowTestEnv;
  beforeAll(async () => {
    env.dir = mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
    env.pki = await writeDevPki(path.join(env.dir, 'pki'), { agentID: 'cluster-a' });
    env.echo = await EchoTarget.start();
  }, 30_000);
  afterEach(async () => {
    for (const c of env.cleanup.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await env.echo.close();
    rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}

// ------------------------------------------------------------ server and agent in process

export interface RunningServer {
  server: TunnelServer;
  registry: Registry;
  agentPort: number;
  adminPort: number;
  uds: string;
}

let seq = 0;

/** A TunnelServer with a Unix-socket frontend and an admin port. */
export async function startTestServer(dir: string, pki: DevPkiFiles, limits: Partial<ServerLimits> = {}, over: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const uds = path.join(dir, `fe-${++seq}.sock`);
  const registry = newRegistry(false);
  const server = new TunnelServer(testServerConfig(pki, { udsName: uds, tcpFrontend: false, adminPort: 0, ...over }), {
    logger: silentLogger(),
    registry,
    limits,
  });
  const a = await server.start();
  return { server, registry, agentPort: a.agentPort, adminPort: a.adminPort!, uds };
}

export interface RunningAgent {
  agent: TunnelAgent;
  registry: Registry;
  adminPort: number;
}

/** A TunnelAgent for `agentPort`, with an admin port, fast reconnects and optional limit overrides. */
export async function startTestAgent(agentPort: number, pki: DevPkiFiles, limits: Partial<ConnectionLimits> = {}, over: Partial<AgentConfig> = {}): Promise<RunningAgent> {
  const registry = newRegistry(false);
  const agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      agentIdentifiers: 'host=cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: agentPort,
      caCert: pki.caCert,
      agentCert: pki.agentCert,
      agentKey: pki.agentKey,
      syncIntervalMs: 50,
      syncIntervalCapMs: 200,
      probeIntervalMs: 100,
      healthServerPort: -1,
      adminServerPort: 0,
      allowEphemeralPorts: true,
      ...over,
    }),
    { logger: silentLogger(), registry, limits },
  );
  const a = await agent.start();
  return { agent, registry, adminPort: a.adminPort! };
}

/** GET a JSON admin view. */
export async function adminJSON<T>(port: number, p: string): Promise<T> {
  const r = await httpGet(port, p);
  if (r.status !== 200) throw new Error(`${p} answered ${r.status}`);
  return JSON.parse(r.body) as T;
}

/** The server's /connections entries. */
export interface ServerConnView {
  connectID: string;
  address: string;
  flowControl: boolean;
  queuedBytes: number;
  /** With flow control: the server's receive window for the connection now. */
  flowWindowBytes?: number;
}
export async function serverConnections(adminPort: number): Promise<ServerConnView[]> {
  return (await adminJSON<{ established: ServerConnView[] }>(adminPort, '/connections')).established;
}

/** The server's /agents streams, flattened. */
export async function serverStreams(adminPort: number): Promise<{ flowControl: boolean; downlink: boolean; connections: number }[]> {
  const v = await adminJSON<{ agents: { streams: { flowControl: boolean; downlink: boolean; connections: number }[] }[] }>(adminPort, '/agents');
  return v.agents.flatMap((a) => a.streams);
}

/** The agent's /connections: one entry per server stream. */
export interface AgentStreamView {
  serverID: string;
  flowControl: boolean;
  downlink: boolean;
  endpointConnections: { connectID: string; address: string; queuedBytes: number; queuedPackets: number; flowWindowBytes?: number }[];
}
export async function agentStreams(adminPort: number): Promise<AgentStreamView[]> {
  return (await adminJSON<{ servers: AgentStreamView[] }>(adminPort, '/connections')).servers;
}

/** A metric's value from a registry (what /metrics shows). */
export async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(await registry.metrics(), name, labels);
}

/** Polls `read` until `check` holds; fails after timeoutMs with the last value. For state without an event. */
export async function waitFor<T>(read: () => T | Promise<T>, check: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until `read()` has not changed for `quietMs` (a stalled transfer
 * settled); resolves with that value. Fails after timeoutMs.
 */
export async function settled(read: () => number, quietMs: number, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = read();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const v = read();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return v;
    if (Date.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms (at ${v})`);
  }
}

// ------------------------------------------------------------ targets

/** Chunk `i` of a numbered stream: 8 bytes of its number, then a fixed random block. */
const BLOCK = randomBytes(64 * 1024 - 8);
export function numberedChunk(i: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64BE(BigInt(i));
  return Buffer.concat([head, BLOCK]);
}
export const CHUNK = 64 * 1024;

/** One connection of a firehose target. */
export interface FirehoseConn {
  /** Bytes handed to the socket so far (each write waits for 'drain' when the socket asks). */
  sent: number;
  /** SHA-256 of all bytes sent, once the whole stream went out. */
  readonly done: Promise<string>;
}

/**
 * A target that, per connection, writes `total` bytes of a numbered stream as
 * fast as the socket takes them, then ends (or, with `end` false, keeps the
 * connection open).
 */
export async function startFirehose(total: number, end = true): Promise<{ address: string; conns: FirehoseConn[]; close(): Promise<void> }> {
  const conns: FirehoseConn[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.resume();
    const c: { sent: number; done: Promise<string> } = { sent: 0, done: Promise.resolve('') };
    c.done = (async () => {
      const h = createHash('sha256');
      for (let i = 0; c.sent < total; i++) {
        const chunk = numberedChunk(i).subarray(0, Math.min(CHUNK, total - c.sent));
        h.update(chunk);
        c.sent += chunk.length;
        if (!sock.write(chunk)) await drainOrClose(sock);
        if (sock.destroyed) throw new Error(`target socket closed after ${c.sent} bytes`);
      }
      if (end) sock.end();
      return h.digest('hex');
    })();
    c.done.catch(() => undefined);
    conns.push(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    conns,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** One connection of a sink target. */
export interface SinkConn {
  received: number;
  readonly socket: net.Socket;
  /** SHA-256 of the first `n` bytes received, once they arrived. */
  hashOf(n: number): Promise<string>;
}

/** A target that reads and hashes; it reads only while `reading` is true. */
export async function startSink(): Promise<{ address: string; conns: SinkConn[]; setReading(on: boolean): void; close(): Promise<void> }> {
  const conns: SinkConn[] = [];
  let reading = true;
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    const h = createHash('sha256');
    const waiters: { n: number; resolve: (s: string) => void }[] = [];
    const c: SinkConn = {
      received: 0,
      socket: sock,
      hashOf: (n) => new Promise((resolve) => waiters.push({ n, resolve })),
    };
    sock.on('data', (d: Buffer) => {
      h.update(d);
      c.received += d.length;
      for (const w of [...waiters]) {
        if (c.received === w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(h.copy().digest('hex'));
        }
      }
    });
    if (!reading) sock.pause();
    conns.push(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    conns,
    setReading: (on) => {
      reading = on;
      for (const c of conns) {
        if (on) c.socket.resume();
        else c.socket.pause();
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => r());
      }),
  };
}

export { drainOrClose };

/** Reads a socket to its end; resolves with the byte count and SHA-256. */
export function readAll(sock: Duplex): Promise<{ bytes: number; sha: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    sock.on('end', () => resolve({ bytes, sha: h.digest('hex') }));
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`closed after ${bytes} bytes without an end`)));
  });
}

// ------------------------------------------------------------ a raw flow-capable server for the agent

/** Options of a RawFlowServer. */
export interface RawFlowServerOptions {
  pki: DevPkiFiles;
  /** The receive window the server announces. */
  windowBytes: number;
  /** What the Credits handler does: accept the stream (default), or refuse it with NOT_FOUND. */
  credits?: 'accept' | 'refuse';
}

/**
 * A konnectivity-like server that answers the flow-control negotiation and
 * serves FlowService.Credits: records the grants the agent sends, lets a test
 * send grants and packets. It enforces nothing; tests script the peer.
 */
export class RawFlowServer {
  readonly streams: FakeAgentStream[] = [];
  /** Grants received from agents, in order. */
  readonly grants: Grant[] = [];
  /** Metadata of every Connect. */
  readonly attempts: Record<string, string[]>[] = [];
  creditCalls = 0;
  private creditsCall: grpc.ServerDuplexStream<Buffer, Buffer> | undefined;
  private waiters: ((s: FakeAgentStream) => void)[] = [];

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  static async start(o: RawFlowServerOptions): Promise<RawFlowServer> {
    const server = new grpc.Server();
    let self: RawFlowServer | undefined;
    server.addService(agentServiceDefinition, {
      Connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const md: Record<string, string[]> = {};
        for (const key of Object.keys(call.metadata.getMap())) md[key] = call.metadata.get(key).map(String);
        self!.attempts.push(md);
        const header = new grpc.Metadata();
        header.set(MD.serverID, 'raw-flow');
        header.set(MD.serverCount, '1');
        header.set(FLOW_MD.control, FLOW_SCHEME);
        header.set(FLOW_MD.window, String(o.windowBytes));
        header.set(FLOW_MD.stream, `token-${self!.attempts.length}`);
        call.sendMetadata(header);
        const s = new FakeAgentStream(md, undefined, new GrpcPacketStream(call, 'server'));
        self!.streams.push(s);
        self!.waiters.shift()?.(s);
      },
    });
    server.addService(flowServiceDefinition, {
      Credits: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        self!.creditCalls++;
        call.on('error', () => undefined);
        if (o.credits === 'refuse') {
          call.emit('error', { code: grpc.status.NOT_FOUND, details: 'no such Connect stream' });
          return;
        }
        self!.creditsCall = call;
        call.on('data', (b: Buffer) => self!.grants.push(...decodeGrants(b)));
      },
    });
    const creds = grpc.ServerCredentials.createSsl(
      readFileSync(o.pki.caCert),
      [{ cert_chain: readFileSync(o.pki.serverCert), private_key: readFileSync(o.pki.serverKey) }],
      false,
    );
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    self = new RawFlowServer(server, port);
    return self;
  }

  /** The next Connect stream (the first one not yet handed out). */
  nextStream(): Promise<FakeAgentStream> {
    const handed = this.handed++;
    if (handed < this.streams.length) return Promise.resolve(this.streams[handed]!);
    return new Promise((r) => this.waiters.push(r));
  }
  private handed = 0;

  /** Grants credit to the agent on the Credits stream. */
  grant(gs: Grant[]): void {
    this.creditsCall?.write(encodeGrants(gs));
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
