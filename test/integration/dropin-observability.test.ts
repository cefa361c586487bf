/**
 * Drop-in: what dashboards, alerts and probes written for upstream
 * proxy-server and proxy-agent read. A server and an agent run through the
 * CLI; after traffic (a successful dial over gRPC and over HTTP CONNECT, a
 * dial the agent fails, a dial no agent can take), /metrics is scraped on
 * the health AND admin ports of both, and every upstream metric of
 * anp-protocol.md sections 5-7 is checked for name, type and label names,
 * plus values a user would look at. The client library's metrics are
 * checked on its own registry. Health and admin views are read too.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, DialError } from '../../src/client/index.js';
import { ClientMetrics, newRegistry } from '../../src/observability/metrics.js';
import { type CliAgent, type CliServer, httpGet, serverIdle, startAgent, startServer, stopAll, waitStatus } from '../support/cli-procs.js';
import { httpConnect, labelNames, type MetricFamily, parseMetrics, readAll, readBytes, sampleSum } from '../support/dropin-peers.js';
import { EchoTarget } from '../support/agent-peers.js';

/** name (after the role prefix), type, label names (sorted; histograms without `le`). */
type Spec = [string, 'counter' | 'gauge' | 'histogram', string[]];

const STREAM: Spec[] = [
  ['stream_packets_total', 'counter', ['packet_type', 'segment']],
  ['stream_errors_total', 'counter', ['code', 'packet_type', 'segment']],
];
const SERVER: Spec[] = [
  ['dial_duration_seconds', 'histogram', []],
  ['frontend_write_duration_seconds', 'histogram', []],
  ['connection_duration_seconds', 'histogram', []],
  ['grpc_connections', 'gauge', ['service_method']],
  ['http_connections', 'gauge', []],
  ['ready_backend_connections', 'gauge', []],
  ['ready_backends', 'gauge', ['proxy_strategy']],
  ['pending_backend_dials', 'gauge', []],
  ['established_connections', 'gauge', []],
  ['full_receive_channels', 'gauge', ['service_method']],
  ['dial_failure_count', 'counter', ['reason']],
  ...STREAM,
];
const AGENT: Spec[] = [
  ['dial_duration_seconds', 'histogram', []],
  ['server_connection_failure_count', 'counter', ['direction']],
  ['endpoint_dial_failure_total', 'counter', ['reason']],
  ['open_server_connections', 'gauge', []],
  ['known_server_count', 'gauge', []],
  ['open_endpoint_connections', 'gauge', []],
  ...STREAM,
];
const CLIENT: Spec[] = [
  ['dial_failure_total', 'counter', ['reason']],
  ['client_connections', 'gauge', ['status']],
  ...STREAM,
];

const PACKET_TYPES = ['DIAL_REQ', 'DIAL_RSP', 'CLOSE_REQ', 'CLOSE_RSP', 'DIAL_CLS', 'DATA', 'DRAIN', 'Unknown'];
const SERVER_REASONS = ['no_agent', 'error_response', 'unrecognized_response', 'send_rsp', 'backend_close', 'backend_dial_timeout', 'frontend_close'];

let dir: string;
let pki: DevPkiFiles;
let echo: EchoTarget;
let server: CliServer;
let agent: CliAgent;
const clientRegistry = newRegistry(false);

/** Checks every spec'd family: present, of its type, and every sample carrying exactly its label names. */
function checkFamilies(families: Map<string, MetricFamily>, prefix: string, specs: Spec[]): void {
  for (const [short, type, labels] of specs) {
    const name = `konnectivity_network_proxy_${prefix}_${short}`;
    const f = families.get(name);
    expect({ name, present: f !== undefined }).toEqual({ name, present: true });
    expect({ name, type: f!.type }).toEqual({ name, type });
    for (const s of f!.samples) {
      expect({ name, labels: Object.keys(s.labels).filter((k) => k !== 'le').sort() }).toEqual({ name, labels });
    }
  }
}

/** Local addresses of the listening TCP sockets on `port`, from /proc/net/tcp and tcp6 (Linux). */
function listenAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // LISTEN
      const [hex, p] = f[1]!.split(':');
      if (parseInt(p!, 16) !== port) continue;
      out.push(hex!.length === 8 ? hex!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : `[${hex}]`);
    }
  }
  return out;
}

function get(port: number, p: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-obs-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await EchoTarget.start();
  // destHost only: dials to 127.0.0.1 reach the agent (ipv4=127.0.0.1); any other host finds no agent.
  server = await startServer({ pki, uds: path.join(dir, 'konnectivity-server.socket'), tcp: true, extra: ['--proxy-strategies=destHost'] });
  agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a', extra: ['--agent-identifiers=ipv4=127.0.0.1&host=cluster-a'] });
  await waitStatus(server.healthPort, '/readyz', 200);
  await waitStatus(agent.healthPort, '/readyz', 200);

  // Traffic: a gRPC dial with data, an HTTP CONNECT with data, a refused destination, a host no agent serves.
  const tunnel = await createTunnel({ uds: server.udsPath!, metrics: new ClientMetrics(clientRegistry) });
  try {
    const sock = await tunnel.dial(echo.address);
    const back = readBytes(sock, 4);
    sock.write('ping');
    expect((await back).toString()).toBe('ping');
    sock.end();
    await new Promise((r) => sock.once('close', r));

    const c = await httpConnect({ path: server.udsPath! }, pki, echo.address);
    const echoed = readBytes(c.socket, 4);
    c.socket.write('pong');
    expect((await echoed).toString()).toBe('pong');
    c.socket.end();
    await readAll(c.socket);

    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(tunnel.dial(`127.0.0.1:${port}`)).rejects.toBeInstanceOf(DialError);
    await expect(tunnel.dial('127.0.0.2:1')).rejects.toBeInstanceOf(DialError);
  } finally {
    await tunnel.close();
  }
  await serverIdle(server);
}, 120_000);

afterAll(async () => {
  await stopAll();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('drop-in: metrics', () => {
  it('the server serves the upstream metrics on its health port and its admin port', async () => {
    const health = await get(server.healthPort, '/metrics');
    const admin = await get(server.adminPort, '/metrics');
    expect([health.status, admin.status]).toEqual([200, 200]);
    for (const text of [health.body, admin.body]) {
      const m = parseMetrics(text);
      checkFamilies(m, 'server', SERVER);
      const v = (name: string, labels: Record<string, string> = {}): number => sampleSum(m, `konnectivity_network_proxy_server_${name}`, labels);
      expect(v('grpc_connections', { service_method: 'Connect' })).toBe(1);
      expect(v('grpc_connections', { service_method: 'Proxy' })).toBe(0);
      expect(v('http_connections')).toBe(0);
      expect(v('ready_backends', { proxy_strategy: 'destHost' })).toBe(1);
      expect(v('ready_backend_connections')).toBe(1);
      expect(v('pending_backend_dials')).toBe(0);
      expect(v('established_connections')).toBe(0);
      expect(v('dial_failure_count', { reason: 'no_agent' })).toBe(1);
      expect(v('dial_failure_count', { reason: 'error_response' })).toBe(1);
      expect(v('dial_duration_seconds')).toBe(3); // two dials succeeded, one failed at the agent
      expect(v('connection_duration_seconds')).toBe(2);
      for (const [segment, type, n] of [
        ['from_client', 'DIAL_REQ', 4],
        ['to_agent', 'DIAL_REQ', 3],
        ['from_agent', 'DIAL_RSP', 3],
        ['to_client', 'DIAL_RSP', 4],
        ['from_client', 'CLOSE_REQ', 2],
        ['to_agent', 'CLOSE_REQ', 2],
      ] as const) {
        expect({ segment, type, n: v('stream_packets_total', { segment, packet_type: type }) }).toEqual({ segment, type, n });
      }
      const family = (n: string): MetricFamily => m.get(`konnectivity_network_proxy_server_${n}`)!;
      for (const s of family('stream_packets_total').samples) {
        expect(['from_client', 'to_client', 'from_agent', 'to_agent']).toContain(s.labels['segment']);
        expect(PACKET_TYPES).toContain(s.labels['packet_type']);
      }
      for (const s of family('dial_failure_count').samples) expect(SERVER_REASONS).toContain(s.labels['reason']);
    }
  });

  it('the agent serves them on its health port; its admin port redirects /metrics there, as upstream does', async () => {
    const admin = await get(agent.adminPort, '/metrics');
    expect(admin.status).toBe(301);
    expect(admin.location).toBe(`http://127.0.0.1:${agent.healthPort}/metrics`);
    const followed = await get(Number(new URL(admin.location!).port), '/metrics');
    const health = await get(agent.healthPort, '/metrics');
    expect([health.status, followed.status]).toEqual([200, 200]);
    for (const text of [health.body, followed.body]) {
      const m = parseMetrics(text);
      checkFamilies(m, 'agent', AGENT);
      const v = (name: string, labels: Record<string, string> = {}): number => sampleSum(m, `konnectivity_network_proxy_agent_${name}`, labels);
      expect(v('open_server_connections')).toBe(1);
      expect(v('known_server_count')).toBe(1);
      expect(v('open_endpoint_connections')).toBe(0);
      expect(v('endpoint_dial_failure_total')).toBe(1);
      expect(v('dial_duration_seconds')).toBe(2);
      // As upstream's agent: what it receives is to_agent, what it sends from_agent.
      expect(v('stream_packets_total', { segment: 'to_agent', packet_type: 'DIAL_REQ' })).toBe(3);
      expect(v('stream_packets_total', { segment: 'from_agent', packet_type: 'DIAL_RSP' })).toBe(3);
      for (const s of m.get('konnectivity_network_proxy_agent_stream_packets_total')!.samples) {
        expect(['from_agent', 'to_agent']).toContain(s.labels['segment']);
        expect(PACKET_TYPES).toContain(s.labels['packet_type']);
      }
    }
  });

  it('the client library registers the upstream client metrics', async () => {
    const m = parseMetrics(await clientRegistry.metrics());
    checkFamilies(m, 'client', CLIENT);
    const v = (name: string, labels: Record<string, string> = {}): number => sampleSum(m, `konnectivity_network_proxy_client_${name}`, labels);
    expect(v('dial_failure_total', { reason: 'endpoint' })).toBe(2);
    expect(v('stream_packets_total', { segment: 'from_client', packet_type: 'DIAL_REQ' })).toBe(3);
    expect(v('stream_packets_total', { segment: 'to_client', packet_type: 'DIAL_RSP' })).toBe(3);
    expect(labelNames(m.get('konnectivity_network_proxy_client_client_connections')!)).toEqual(['status']);
  });
});

describe('drop-in: health and admin', () => {
  it('readiness in the healthz form: plain "ok", and "[+]name ok" lines with ?verbose', async () => {
    expect(await get(server.healthPort, '/healthz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(server.healthPort, '/readyz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(server.healthPort, '/ready')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(agent.healthPort, '/readyz')).toMatchObject({ status: 200, body: 'ok' });
    for (const [port, checks] of [
      [server.healthPort, ['agent-connected']],
      [agent.healthPort, ['server-connected', 'not-draining']],
    ] as const) {
      const lines = (await get(port, '/readyz?verbose')).body.trimEnd().split('\n');
      expect(lines.pop()).toBe('readyz check passed');
      for (const l of lines) expect(l).toMatch(/^\[\+\][\w-]+ ok( \(.*\))?$/);
      for (const name of checks) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\[\\+\\]${name} ok`)));
    }
  });

  it('the admin port listens on 127.0.0.1 only and shows agents, pending dials and established connections as JSON', async () => {
    const line = server.proc.lines.find((l) => l.message === 'listening')!;
    expect(line['adminPort']).toBe(server.adminPort);
    const agents = JSON.parse((await httpGet(server.adminPort, '/agents')).body) as { agents: Record<string, unknown>[] };
    expect(agents.agents).toEqual([
      expect.objectContaining({
        id: 'cluster-a',
        identifiers: 'ipv4=127.0.0.1&host=cluster-a',
        identity: 'cluster-a',
        authMethod: 'mtls',
        draining: false,
        connections: 0,
        pendingDials: 0,
      }),
    ]);
    expect(JSON.parse((await httpGet(server.adminPort, '/connections')).body)).toEqual({ pendingDials: [], established: [] });
    // Bound to 127.0.0.1 only: upstream's --admin-bind-address default (the health port defaults to every interface).
    expect(listenAddresses(server.adminPort)).toEqual(['127.0.0.1']);
    expect(listenAddresses(agent.adminPort)).toEqual(['127.0.0.1']);
  });
});
