import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { closeReq, data, PacketType, TEXT } from '../../src/protocol/index.js';
import { TunnelServer } from '../../src/server/index.js';
import type { ServerConfig } from '../../src/server/config.js';
import {
  type FrontendTarget,
  startEchoServer,
  TestAgent,
  TestProxyClient,
  testServerConfig,
} from '../support/server-peers.js';

let dir: string;
let pki: DevPkiFiles;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent-1' });
  echo = await startEchoServer();
});

afterAll(async () => {
  await echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  server: TunnelServer;
  target: FrontendTarget;
  agentPort: number;
  registry: ReturnType<typeof newRegistry>;
}

const open: { close(): void }[] = [];
let current: Setup | undefined;

afterEach(async () => {
  for (const o of open.splice(0)) o.close();
  if (current) {
    const s = current.server;
    current = undefined;
    await s.shutdown({ graceful: false });
    expect(s.stats()).toEqual({
      agents: 0,
      agentStreams: 0,
      pendingDials: 0,
      established: 0,
      frontendStreams: 0,
      httpConnections: 0,
    });
  }
});

async function startServer(kind: 'uds' | 'tcp', over: Partial<ServerConfig> = {}): Promise<Setup> {
  const registry = newRegistry(false);
  const udsName = kind === 'uds' ? path.join(dir, `fe-${Math.random().toString(36).slice(2)}.sock`) : '';
  const server = new TunnelServer(testServerConfig(pki, { udsName, ...over }), { logger: silentLogger(), registry });
  const addrs = await server.start();
  const target: FrontendTarget =
    kind === 'uds'
      ? { uds: addrs.udsPath! }
      : { port: addrs.frontendPort!, tls: { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey } };
  current = { server, target, agentPort: addrs.agentPort, registry };
  return current;
}

function agent(s: Setup, opts: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): TestAgent {
  const a = new TestAgent({
    agentPort: s.agentPort,
    tls: { caCert: pki.caCert, cert: pki.agentCert, key: pki.agentKey },
    ...opts,
  });
  open.push(a);
  return a;
}

function client(s: Setup, options: grpc.ChannelOptions = {}): TestProxyClient {
  const c = new TestProxyClient(s.target, options);
  open.push(c);
  return c;
}

/** Waits until the server's stats satisfy pred, checking on each event-loop turn (bounded by the jest timeout). */
async function statsUntil(s: Setup, pred: (st: ReturnType<TunnelServer['stats']>) => boolean): Promise<void> {
  while (!pred(s.server.stats())) await new Promise((r) => setImmediate(r));
}

async function metric(s: Setup, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await s.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe.each(['uds', 'tcp'] as const)('gRPC frontend over %s', (kind) => {
  it('dials through an agent, relays bytes both ways and closes', async () => {
    const s = await startServer(kind);
    const a = agent(s);
    const headers = await a.headers;
    expect(headers.get('serverid')).toEqual(['server-test']);
    expect(headers.get('servercount')).toEqual(['1']);
    await statsUntil(s, (st) => st.agents === 1);

    const c = client(s);
    const rsp = await c.dial(echo.address);
    expect(rsp.error).toBe('');
    expect(rsp.connectID).toBeGreaterThan(0n);
    const payload = Buffer.from('hello through the tunnel');
    c.stream.write(data(rsp.connectID, payload));
    expect((await c.readBytes(payload.length)).toString()).toBe(payload.toString());
    expect(s.server.stats()).toMatchObject({ established: 1, frontendStreams: 1 });

    c.stream.write(closeReq(rsp.connectID));
    const p = await c.reader.next();
    expect(p.type).toBe(PacketType.CLOSE_RSP);
    await statsUntil(s, (st) => st.established === 0);
    expect(a.closeRequests).toEqual([rsp.connectID]);
  });

  it('answers "No agent available" when no agent is connected', async () => {
    const s = await startServer(kind);
    const c = client(s);
    const rsp = await c.dial(echo.address, 42n);
    expect(rsp).toEqual({ random: 42n, connectID: 0n, error: TEXT.noAgent });
    expect(await metric(s, 'konnectivity_network_proxy_server_dial_failure_count', { reason: 'no_agent' })).toBe(1);
  });
});

describe('agent admission', () => {
  it('refuses a Connect without exactly one agent ID', async () => {
    const s = await startServer('uds');
    const a = agent(s, { agentIDs: [] });
    const st = await a.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain(TEXT.expectedOneAgentID);
    const b = agent(s, { agentIDs: ['x', 'y'] });
    expect((await b.status).details).toContain(TEXT.expectedOneAgentID);
    expect(s.server.stats().agents).toBe(0);
  });

  it('refuses an agent without a client certificate when clusterCaCert is set', async () => {
    const s = await startServer('uds');
    const a = agent(s, { tls: { caCert: pki.caCert } });
    const st = await a.status;
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(s.server.stats().agents).toBe(0);
  });
});

describe('bad input touches only its own stream', () => {
  it('a malformed frame from a client closes only that stream', async () => {
    const s = await startServer('uds');
    agent(s);
    await statsUntil(s, (st) => st.agents === 1);
    const good = client(s);
    const rsp = await good.dial(echo.address);
    const bad = client(s);
    bad.call.write(Buffer.from('ffff', 'hex'));
    const st = await bad.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain('malformed packet');
    expect(await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'client', reason: 'ERR_MALFORMED_PACKET' })).toBe(1);
    good.stream.write(data(rsp.connectID, Buffer.from('still here')));
    expect((await good.readBytes(10)).toString()).toBe('still here');
  });

  it('a malformed frame from an agent closes only that agent; connections through others keep flowing', async () => {
    const s = await startServer('uds', { proxyStrategies: ['destHost'] });
    const a1 = agent(s, { agentID: 'a1', identifiers: 'host=one' });
    const a2 = agent(s, { agentID: 'a2', identifiers: 'host=127.0.0.1' });
    await Promise.all([a1.headers, a2.headers]);
    await statsUntil(s, (st) => st.agents === 2);
    const c = client(s);
    const rsp = await c.dial(echo.address);
    expect(rsp.error).toBe('');
    a1.call.write(Buffer.from('0863', 'hex'));
    expect((await a1.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    await statsUntil(s, (st) => st.agents === 1);
    expect(await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'agent', reason: 'ERR_UNKNOWN_PACKET_TYPE' })).toBe(1);
    c.stream.write(data(rsp.connectID, Buffer.from('via a2')));
    expect((await c.readBytes(6)).toString()).toBe('via a2');
  });

  it('the Unix socket is created with mode 0770', async () => {
    const s = await startServer('uds');
    expect(fs.statSync((s.target as { uds: string }).uds).mode & 0o777).toBe(0o770);
  });

  it('a TCP frontend client without a certificate is refused', async () => {
    const s = await startServer('tcp');
    const sock = tls.connect({ host: '127.0.0.1', port: (s.target as { port: number }).port, servername: 'localhost', ca: fs.readFileSync(pki.caCert) });
    sock.on('error', () => undefined);
    sock.on('data', () => undefined);
    await new Promise((r) => sock.once('close', r));
    while ((await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'frontend', reason: 'tls_handshake' })) === 0) {
      await new Promise((r) => setImmediate(r));
    }
    expect(s.server.stats().frontendStreams).toBe(0);
  });

  it('garbage on the frontend socket is closed and counted', async () => {
    const s = await startServer('uds');
    const sock = net.connect((s.target as { uds: string }).uds);
    sock.on('error', () => undefined);
    sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00]));
    await new Promise((r) => sock.once('close', r));
    expect(await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'frontend', reason: 'not_http' })).toBe(1);
  });

  it('answers a non-CONNECT HTTP request with 405 on the gRPC socket', async () => {
    const s = await startServer('uds');
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: (s.target as { uds: string }).uds, path: '/', method: 'GET' }, (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res).toEqual({ status: 405, body: TEXT.httpOnlyConnect + '\n' });
  });
});

describe('kube-apiserver style clients', () => {
  it('accepts a raw Unix socket path as :authority', async () => {
    const s = await startServer('uds');
    agent(s);
    await statsUntil(s, (st) => st.agents === 1);
    const c = client(s, { 'grpc.default_authority': '/etc/kubernetes/konnectivity-server/konnectivity-server.socket' });
    const rsp = await c.dial(echo.address);
    expect(rsp.error).toBe('');
    c.stream.write(data(rsp.connectID, Buffer.from('abc')));
    expect((await c.readBytes(3)).toString()).toBe('abc');
  });
});

describe('health, admin and shutdown', () => {
  async function get(port: number, p: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: p }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  }

  it('readiness follows agents connecting and leaving; admin lists them', async () => {
    const registry = newRegistry(false);
    const server = new TunnelServer(testServerConfig(pki, { udsName: path.join(dir, 'health.sock'), healthPort: 0, adminPort: 0 }), {
      logger: silentLogger(),
      registry,
    });
    const addrs = await server.start();
    current = { server, target: { uds: addrs.udsPath! }, agentPort: addrs.agentPort, registry };
    expect(await get(addrs.healthPort!, '/healthz')).toEqual({ status: 200, body: 'ok' });
    expect(await get(addrs.healthPort!, '/readyz')).toEqual({ status: 500, body: TEXT.serverNotReady });

    const a = agent(current, { agentID: 'agent-7', identifiers: 'host=cluster-a' });
    await a.headers;
    await statsUntil(current, (st) => st.agents === 1);
    expect(await get(addrs.healthPort!, '/readyz')).toEqual({ status: 200, body: 'ok' });
    expect((await get(addrs.healthPort!, '/ready')).status).toBe(200);
    expect((await get(addrs.healthPort!, '/readyz?verbose')).body).toContain('[+]agent-connected ok');
    const view = JSON.parse((await get(addrs.adminPort!, '/agents')).body) as { agents: { id: string; identity: string; identifiers: string; streams: unknown[] }[] };
    expect(view.agents).toEqual([
      expect.objectContaining({ id: 'agent-7', identity: 'agent-1', identifiers: 'host=cluster-a', draining: false, connections: 0, pendingDials: 0 }),
    ]);
    expect((await get(addrs.healthPort!, '/metrics')).body).toContain('konnectivity_network_proxy_server_ready_backends');

    a.close();
    await statsUntil(current, (st) => st.agents === 0);
    expect(await get(addrs.healthPort!, '/readyz')).toEqual({ status: 500, body: TEXT.serverNotReady });
  });

  it('a graceful shutdown waits for open connections, then removes the socket file', async () => {
    const s = await startServer('uds', { gracefulShutdownTimeoutMs: 20_000 });
    agent(s);
    await statsUntil(s, (st) => st.agents === 1);
    const c = client(s);
    const rsp = await c.dial(echo.address);
    const stopped = s.server.shutdown();
    let done = false;
    void stopped.then(() => (done = true));
    c.stream.write(data(rsp.connectID, Buffer.from('during shutdown')));
    expect((await c.readBytes(15)).toString()).toBe('during shutdown');
    expect(done).toBe(false);
    expect(fs.existsSync((s.target as { uds: string }).uds)).toBe(false);
    c.close();
    await stopped;
  });
});
