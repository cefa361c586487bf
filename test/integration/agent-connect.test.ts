import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultAgentConfig, TunnelAgent, type AgentConfig } from '../../src/agent/index.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { PacketType, TEXT } from '../../src/protocol/index.js';
import { FakeProxyServer, recordingLogger, until } from '../support/agent-peers.js';

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(port: number, o: Partial<AgentConfig> = {}): AgentConfig {
  return defaultAgentConfig({
    agentID: 'cluster-a',
    agentIdentifiers: 'host=cluster-a&ipv4=10.0.0.1',
    proxyServerHost: '127.0.0.1',
    proxyServerPort: port,
    caCert: pki.caCert,
    syncIntervalMs: 50,
    syncIntervalCapMs: 200,
    probeIntervalMs: 100,
    healthServerHost: '127.0.0.1',
    healthServerPort: 0,
    adminBindAddress: '127.0.0.1',
    adminServerPort: 0,
    allowEphemeralPorts: true,
    ...o,
  });
}

function get(port: number, p: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
      })
      .on('error', reject);
  });
}

describe('agent → server connection', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup.length = 0;
  });

  it('sends agentid, agentidentifiers and the Bearer token, re-reading the token file on every connect', async () => {
    const server = await FakeProxyServer.start({ serverID: 's1', pki });
    cleanup.push(() => server.stop());
    const token = path.join(dir, 'token');
    writeFileSync(token, 'first-token');
    const agent = new TunnelAgent(config(server.port, { serviceAccountTokenPath: token }), { logger: silentLogger(), registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();

    const first = await server.nextStream();
    expect(first.metadata[`agentid`]).toEqual(['cluster-a']);
    expect(first.metadata['agentidentifiers']).toEqual(['host=cluster-a&ipv4=10.0.0.1']);
    expect(first.metadata['authorization']).toEqual(['Bearer first-token']);

    writeFileSync(token, 'rotated-token');
    first.end(); // the server drops the stream: the agent reconnects
    const second = await server.nextStream();
    expect(second.metadata['authorization']).toEqual(['Bearer rotated-token']);
    await until(() => agent.stats().serverConnections === 1, 5000, 'reconnected');
  });

  it('sends an empty agentidentifiers and no authorization when none are configured', async () => {
    const server = await FakeProxyServer.start({ serverID: 's1', pki });
    cleanup.push(() => server.stop());
    const agent = new TunnelAgent(config(server.port, { agentIdentifiers: '' }), { logger: silentLogger(), registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();
    const s = await server.nextStream();
    expect(s.metadata['agentidentifiers']).toEqual(['']);
    expect(s.metadata['authorization']).toBeUndefined();
  });

  it('presents its client certificate to a server that requires mTLS', async () => {
    const server = await FakeProxyServer.start({ serverID: 's1', pki, requireClientCert: true });
    cleanup.push(() => server.stop());
    const agent = new TunnelAgent(config(server.port, { agentCert: pki.agentCert, agentKey: pki.agentKey }), {
      logger: silentLogger(),
      registry: newRegistry(false),
    });
    cleanup.push(() => agent.stop());
    await agent.start();
    const s = await server.nextStream();
    expect(s.clientCertCN).toBe('cluster-a');
    await until(() => agent.ready, 5000, 'ready');
  });

  it('logs a refusal with the server message, counts it and retries with backoff', async () => {
    let refusals = 0;
    const server = await FakeProxyServer.start({
      serverID: 's1',
      pki,
      refuse: () => (refusals++ < 3 ? { code: grpc.status.UNAUTHENTICATED, message: 'token review failed: audience mismatch' } : undefined),
    });
    cleanup.push(() => server.stop());
    const { logger, records } = recordingLogger();
    const registry = newRegistry(false);
    const agent = new TunnelAgent(config(server.port), { logger, registry });
    cleanup.push(() => agent.stop());
    await agent.start();
    await server.nextStream();
    expect(server.attempts).toHaveLength(4);
    const refused = records.filter((r) => r['message'] === 'proxy server refused the connection');
    expect(refused).toHaveLength(3);
    expect(refused[0]!['error']).toBe('server refused the connection (Unauthenticated): token review failed: audience mismatch');
    // Backoff: the announced retry interval grows.
    expect(refused.map((r) => r['retryInMs'])).toEqual([50, 75, 113]);
    const metrics = await registry.getSingleMetricAsString('konnectivity_network_proxy_agent_stream_errors_total');
    expect(metrics).toContain('segment="to_agent",code="Unauthenticated"');
    expect(metrics).toMatch(/code="Unauthenticated",packet_type="Unknown"} 3/);
  });

  it('refuses a server whose headers lack servercount, and retries', async () => {
    const server = await FakeProxyServer.start({ serverID: 's1', pki, headers: { serverid: ['s1'] } });
    cleanup.push(() => server.stop());
    const { logger, records } = recordingLogger();
    const agent = new TunnelAgent(config(server.port), { logger, registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();
    await server.nextStream();
    await server.nextStream();
    await until(() => records.some((r) => r['code'] === 'ERR_SERVER_HEADERS'), 5000, 'log line');
    const line = records.find((r) => r['code'] === 'ERR_SERVER_HEADERS')!;
    expect(line['error']).toBe('expected one servercount header from the server, got 0');
    expect(agent.stats().serverConnections).toBe(0);
    expect(agent.ready).toBe(false);
  });

  it('reports readiness, sends DRAIN on drain(), serves admin views, and releases everything on stop()', async () => {
    const server = await FakeProxyServer.start({ serverID: 's1', pki });
    cleanup.push(() => server.stop());
    const agent = new TunnelAgent(config(server.port, { proxyServerPort: 1 }), { logger: silentLogger(), registry: newRegistry(false) });
    const { healthPort, adminPort } = await agent.start();
    cleanup.push(() => agent.stop());
    expect(healthPort).toBeGreaterThan(0);
    expect(adminPort).toBeGreaterThan(0);

    // Nothing listens on port 1: not ready.
    expect(await get(healthPort!, '/healthz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(healthPort!, '/readyz')).toMatchObject({ status: 503, body: TEXT.agentNotReady });
    expect((await get(healthPort!, '/readyz?verbose')).body).toContain('[-]server-connected failed: no servers connected');
    await agent.stop();

    const agent2 = new TunnelAgent(config(server.port), { logger: silentLogger(), registry: newRegistry(false) });
    const ports = await agent2.start();
    cleanup.push(() => agent2.stop());
    const s = await server.nextStream();
    await until(() => agent2.ready, 5000, 'ready');
    expect(await get(ports.healthPort!, '/readyz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(ports.healthPort!, '/ready')).toMatchObject({ status: 200, body: 'ok' });
    expect((await get(ports.healthPort!, '/metrics')).body).toContain('konnectivity_network_proxy_agent_open_server_connections 1');

    const redirect = await get(ports.adminPort!, '/metrics');
    expect(redirect.status).toBe(301);
    expect(redirect.location).toBe(`http://127.0.0.1:${ports.healthPort}/metrics`);
    const view = JSON.parse((await get(ports.adminPort!, '/connections')).body) as { servers: { serverID: string }[]; ready: boolean };
    expect(view.ready).toBe(true);
    expect(view.servers.map((x) => x.serverID)).toEqual(['s1']);

    agent2.drain();
    const p = await s.next();
    expect(p).toEqual({ type: PacketType.DRAIN, drain: {} });
    expect(agent2.ready).toBe(false);
    const notReady = await get(ports.healthPort!, '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toBe('[-]not-draining failed: agent is draining');
    expect(agent2.stats().serverConnections).toBe(1); // existing streams continue

    await agent2.stop();
    await agent2.stop(); // idempotent
    expect(agent2.stats()).toEqual({ serverConnections: 0, endpointConnections: 0, pendingDials: 0 });
    await s.ended;
  });

  it('refuses to start with an unknown identifier key, naming it', async () => {
    const agent = new TunnelAgent(config(1, { agentIdentifiers: 'host=a&region=eu' }), { logger: silentLogger(), registry: newRegistry(false) });
    await expect(agent.start()).rejects.toThrow('unknown agent identifier key "region" (allowed: ipv4, ipv6, host, cidr, default-route)');
    await agent.stop();
  });
});
