/**
 * Pull mode end to end, in process, with the real TunnelServer and
 * TunnelAgent over mTLS: an HTTP service on the server's side reached from the
 * agent's side through a port forward and through the CONNECT proxy (50
 * concurrent connections each, bytes checked both ways), names that are not
 * allowed, one cluster's agent unable to use another cluster's allowances,
 * bad input on a pull stream, the per-agent bound, metrics and readiness,
 * and new pull connections moving to the server that is left.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { defaultAgentPullConfig } from '../../src/agent/pull/index.js';
import { createTunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { defaultPullServerConfig, type PullServerConfig } from '../../src/server/pull/index.js';
import { PullError } from '../../src/transport/pull-errors.js';
import { recordingLogger, until } from '../support/agent-peers.js';
import { connectThrough, HttpEcho, payload, postEcho, type PullPki, RawPull, sha256, writePullPki } from '../support/pull-peers.js';

let dir: string;
let pki: PullPki;
let norm: HttpEcho;
let billing: HttpEcho;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pull-'));
  pki = await writePullPki(path.join(dir, 'pki'), ['cluster-a', 'cluster-b']);
  norm = await HttpEcho.start();
  billing = await HttpEcho.start();
});
afterAll(async () => {
  await norm.close();
  await billing.close();
  rmSync(dir, { recursive: true, force: true });
});

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});

/** The targets of the tests: norm for cluster-a, billing for cluster-b. */
function pullConfig(o: Partial<PullServerConfig> = {}): PullServerConfig {
  return defaultPullServerConfig({
    targets: [
      { name: 'norm', host: '127.0.0.1', port: norm.port },
      { name: 'billing', host: '127.0.0.1', port: billing.port },
    ],
    allow: [
      { identity: 'cluster-a', targets: ['norm'] },
      { identity: 'cluster-b', targets: ['billing'] },
    ],
    ...o,
  });
}

interface StartedServer {
  server: TunnelServer;
  agentPort: number;
  registry: Registry;
}

async function startServer(serverID: string, o: Partial<ServerConfig> = {}): Promise<StartedServer> {
  const registry = newRegistry(false);
  const server = new TunnelServer(
    defaultServerConfig({
      serverID,
      udsName: path.join(dir, `${serverID}.sock`),
      serverPort: 0,
      agentPort: 0,
      agentBindAddress: '127.0.0.1',
      clusterCert: pki.serverCert,
      clusterKey: pki.serverKey,
      clusterCaCert: pki.caCert,
      healthPort: -1,
      adminPort: -1,
      allowEphemeralPorts: true,
      pull: pullConfig(),
      ...o,
    }),
    { logger: silentLogger(), registry },
  );
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort, registry };
}

function agentConfig(cluster: string, ports: number[], o: Partial<AgentConfig> = {}): AgentConfig {
  return defaultAgentConfig({
    agentID: cluster,
    agentIdentifiers: `host=${cluster}`,
    proxyServerHost: ports.map((p) => `127.0.0.1:${p}`).join(','),
    proxyServerPort: ports[0]!,
    caCert: pki.caCert,
    agentCert: pki.agents[cluster]!.cert,
    agentKey: pki.agents[cluster]!.key,
    syncIntervalMs: 30,
    syncIntervalCapMs: 120,
    probeIntervalMs: 50,
    healthServerPort: -1,
    adminServerPort: -1,
    allowEphemeralPorts: true,
    pull: defaultAgentPullConfig({
      listen: [{ name: 'norm', host: '127.0.0.1', port: 0 }],
      proxy: { host: '127.0.0.1', port: 0 },
    }),
    ...o,
  });
}

async function startAgent(cfg: AgentConfig, logger = silentLogger()): Promise<{ agent: TunnelAgent; registry: Registry; forward: number; proxy: number }> {
  const registry = newRegistry(false);
  const agent = new TunnelAgent(cfg, { logger, registry });
  cleanup.push(() => agent.stop());
  const addrs = await agent.start();
  return { agent, registry, forward: addrs.pull?.listen['norm'] ?? -1, proxy: addrs.pull?.proxyPort ?? -1 };
}

/** A metric's value with these labels (0 when absent). */
async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value ?? 0;
}

async function pullDialError(p: Promise<unknown>): Promise<PullError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PullError) return e;
    throw e;
  }
  throw new Error('the dial succeeded');
}

describe('pull mode: managed-cluster clients reach a service on the server side', () => {
  it('through the port forward: 50 concurrent connections, bytes checked both ways', async () => {
    const s = await startServer('pull-fwd');
    const { agent, forward, registry } = await startAgent(agentConfig('cluster-a', [s.agentPort]));
    await until(() => agent.pull.available, 5000, 'pull available');
    expect(agent.pull.targets()).toEqual(['norm']);

    const bodies = Array.from({ length: 50 }, (_, i) => payload(1000 + i * 997));
    const results = await Promise.all(bodies.map((b) => postEcho({ port: forward }, b)));
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.receivedHash).toBe(sha256(bodies[i]!));
      expect(r.body.equals(bodies[i]!)).toBe(true);
    });

    await until(() => s.server.pull.stats().streams === 0 && agent.pull.stats().connections === 0, 5000, 'pull connections closed');
    await until(() => norm.connections === 0, 5000, 'target connections closed');
    expect(await metric(s.registry, 'tunnel_pull_connections_total', { target: 'norm', result: 'ok' })).toBe(50);
    expect(await metric(registry, 'tunnel_pull_connections_total', { target: 'norm', result: 'ok' })).toBe(50);
    expect(await metric(s.registry, 'tunnel_pull_open_connections', { target: 'norm' })).toBe(0);
    expect(await metric(registry, 'tunnel_pull_open_connections', { target: 'norm' })).toBe(0);
  });

  it('through the CONNECT proxy: 50 concurrent connections, bytes checked both ways', async () => {
    const s = await startServer('pull-proxy');
    const { agent, proxy } = await startAgent(agentConfig('cluster-a', [s.agentPort]));
    await until(() => agent.pull.available, 5000, 'pull available');

    const bodies = Array.from({ length: 50 }, (_, i) => payload(5000 + i * 1231));
    const results = await Promise.all(
      bodies.map(async (b, i) => {
        const c = await connectThrough(proxy, `norm:${8000 + i}`);
        expect(c.status).toBe(200);
        return postEcho({ socket: c.socket! }, b);
      }),
    );
    results.forEach((r, i) => {
      expect(r.receivedHash).toBe(sha256(bodies[i]!));
      expect(r.body.equals(bodies[i]!)).toBe(true);
    });
    await until(() => s.server.pull.stats().streams === 0, 5000, 'pull streams closed');
  });

  it('in process: dial(name), and an http.Agent whose host is the target name', async () => {
    const s = await startServer('pull-api');
    const { agent } = await startAgent(agentConfig('cluster-a', [s.agentPort], { pull: defaultAgentPullConfig() }));
    await until(() => agent.pull.available, 5000, 'pull available');

    const sock = await agent.pull.dial('norm');
    const body = payload(300_000);
    const r = await postEcho({ socket: sock }, body);
    expect(r.body.equals(body)).toBe(true);

    const got = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: 'norm', path: '/hello', agent: agent.pull.httpAgent({ keepAlive: false }) }, (res) => {
          res.resume();
          resolve(String(res.headers['x-path']));
        })
        .on('error', reject);
    });
    expect(got).toBe('/hello');
  });

  it('refuses a name that is not allowed: CONNECT 403 with the reason, the forward closes, dial() throws', async () => {
    const s = await startServer('pull-deny');
    const { logger, records } = recordingLogger();
    const cfg = agentConfig('cluster-a', [s.agentPort], {
      pull: defaultAgentPullConfig({ listen: [{ name: 'billing', host: '127.0.0.1', port: 0 }], proxy: { host: '127.0.0.1', port: 0 } }),
    });
    const registry = newRegistry(false);
    const agent = new TunnelAgent(cfg, { logger, registry });
    cleanup.push(() => agent.stop());
    const addrs = await agent.start();
    await until(() => agent.pull.available, 5000, 'pull available');

    const c = await connectThrough(addrs.pull!.proxyPort!, 'billing:443');
    expect(c.status).toBe(403);
    expect(c.text).toMatch(/pull target "billing" is not allowed for this agent/);

    const forwarded = await postEcho({ port: addrs.pull!.listen['billing']! }, payload(10)).then(
      () => 'answered',
      () => 'closed',
    );
    expect(forwarded).toBe('closed');

    const err = await pullDialError(agent.pull.dial('billing'));
    expect(err.code).toBe('ERR_PULL_NOT_ALLOWED');
    expect(await metric(registry, 'tunnel_pull_connections_total', { result: 'not_allowed' })).toBeGreaterThan(0);
    expect(records.some((r) => r['message'] === 'pull dial failed' && r['code'] === 'ERR_PULL_NOT_ALLOWED')).toBe(true);
    expect(billing.served).toBe(0);

    const bad = await connectThrough(addrs.pull!.proxyPort!, '10.0.0.1:80');
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/malformed pull address "10.0.0.1:80"/);
  });

  it("an agent of cluster A cannot use cluster B's allowances, even announcing B's agent id", async () => {
    const s = await startServer('pull-tenants');
    const a = await startAgent(agentConfig('cluster-a', [s.agentPort]));
    const b = await startAgent(agentConfig('cluster-b', [s.agentPort], { pull: defaultAgentPullConfig() }));
    await until(() => a.agent.pull.available && b.agent.pull.available, 5000, 'pull available');
    expect(a.agent.pull.targets()).toEqual(['norm']);
    expect(b.agent.pull.targets()).toEqual(['billing']);
    const okB = await postEcho({ socket: await b.agent.pull.dial('billing') }, Buffer.from('b'));
    expect(okB.body.toString()).toBe('b');

    // The server is the authority, whatever an agent pre-checks: a raw stream with A's certificate.
    const raw = new RawPull(s.agentPort, { ca: pki.caCert, ...pki.agents['cluster-a']! }, 'cluster-a');
    cleanup.push(() => raw.close());
    raw.stream.write(dialReq('billing:443', 77n));
    const rsp = await firstPacket(raw);
    expect(rsp.type === PacketType.DIAL_RSP && rsp.dialResponse.error).toBe(
      'pull target "billing" is not allowed for agent "cluster-a" [ERR_PULL_NOT_ALLOWED]',
    );
    // Announcing B's agent id with A's certificate gets nothing of B's either.
    const claim = new RawPull(s.agentPort, { ca: pki.caCert, ...pki.agents['cluster-a']! }, 'cluster-b');
    cleanup.push(() => claim.close());
    claim.stream.write(dialReq('billing:443', 78n));
    const outcome = await firstPacket(claim).then(
      (p) => (p.type === PacketType.DIAL_RSP ? p.dialResponse.error : `packet ${p.type}`),
      (e: Error) => e.message,
    );
    expect(outcome).toMatch(/not allowed/);
    expect(await metric(s.registry, 'tunnel_pull_connections_total', { target: 'billing', result: 'not_allowed' })).toBeGreaterThanOrEqual(1);
    expect(billing.served).toBe(1);
  });

  it('bad input gets an error on that stream only: no identity, a malformed address, a raw host, a flood', async () => {
    const s = await startServer('pull-bad', { pull: pullConfig({ maxConnectionsPerAgent: 3 }) });

    const noID = new RawPull(s.agentPort, { ca: pki.caCert, ...pki.agents['cluster-a']! }, undefined);
    cleanup.push(() => noID.close());
    const st = await noID.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/expected one agent ID/);

    const noCert = new RawPull(s.agentPort, { ca: pki.caCert }, 'cluster-a');
    cleanup.push(() => noCert.close());
    expect((await noCert.status).code).not.toBe(grpc.status.OK);

    for (const [address, text] of [
      ['', /malformed pull address "": the name is empty \[ERR_PULL_BAD_ADDRESS\]/],
      ['127.0.0.1:22', /a name is not an IP address \[ERR_PULL_BAD_ADDRESS\]/],
      ['norm:99999', /port in 1-65535 \[ERR_PULL_BAD_ADDRESS\]/],
    ] as const) {
      const raw = new RawPull(s.agentPort, { ca: pki.caCert, ...pki.agents['cluster-a']! }, 'cluster-a');
      cleanup.push(() => raw.close());
      raw.stream.write(dialReq(address, 5n));
      const p = await firstPacket(raw);
      expect(p.type === PacketType.DIAL_RSP && p.dialResponse.error).toMatch(text);
    }
    expect(await metric(s.registry, 'tunnel_pull_connections_total', { result: 'bad_address' })).toBe(3);

    const a = await startAgent(agentConfig('cluster-a', [s.agentPort], { pull: defaultAgentPullConfig() }));
    await until(() => a.agent.pull.available, 5000, 'pull available');
    const held = await Promise.all([1, 2, 3].map(() => a.agent.pull.dial('norm')));
    const err = await pullDialError(a.agent.pull.dial('norm'));
    expect(err.code).toBe('ERR_PULL_TOO_MANY');
    expect(err.message).toMatch(/already has 3 pull connections/);
    expect(await metric(s.registry, 'tunnel_pull_connections_total', { target: 'norm', result: 'too_many' })).toBe(1);
    // The agent's other connections are untouched, and a slot frees up when one closes.
    const r = await postEcho({ socket: held[0]! }, Buffer.from('still here'));
    expect(r.body.toString()).toBe('still here');
    await until(() => s.server.pull.stats().streams === 2, 5000, 'one slot free');
    const again = await a.agent.pull.dial('norm');
    again.destroy();
    for (const h of held) h.destroy();
    await until(() => s.server.pull.stats().streams === 0, 5000, 'pull streams closed');
  });

  it('an agent the server does not authenticate may push but not pull', async () => {
    const s = await startServer('pull-anon', { clusterCaCert: '' });
    const { agent } = await startAgent(agentConfig('cluster-a', [s.agentPort], { healthServerHost: '127.0.0.1', healthServerPort: 0 }));
    await until(() => agent.pull.status().problem !== '' && s.server.stats().agents === 1, 5000, 'connected, pull refused');
    expect(agent.pull.available).toBe(false);
    const tunnel = await createTunnel({ uds: path.join(dir, 'pull-anon.sock') });
    cleanup.push(() => tunnel.close());
    const pushed = await postEcho({ socket: await tunnel.dial(`127.0.0.1:${norm.port}`) }, Buffer.from('push works'));
    expect(pushed.body.toString()).toBe('push works');
    const err = await pullDialError(agent.pull.dial('norm'));
    expect(err.code).toBe('ERR_PULL_REFUSED');
    expect(err.message).toMatch(/pull mode needs an authenticated agent/);
    const port = (agent as unknown as { health: { port: number } }).health.port;
    expect(await getText(`http://127.0.0.1:${port}/readyz?verbose`)).toMatch(/^\[\+\]pull ok \(unavailable: pull mode needs an authenticated agent/m);
  });

  it('readiness reports pull as its own check', async () => {
    const s = await startServer('pull-ready');
    const { agent } = await startAgent(agentConfig('cluster-a', [s.agentPort], { healthServerHost: '127.0.0.1', healthServerPort: 0 }));
    await agent.pull.whenAvailable(AbortSignal.timeout(5000));
    const port = (agent as unknown as { health: { port: number } }).health.port;
    const text = await getText(`http://127.0.0.1:${port}/readyz?verbose`);
    expect(text).toMatch(/^\[\+\]pull ok$/m);
  });

  it('spreads pull connections over the servers; when one is lost, new connections go to the other', async () => {
    const s1 = await startServer('pull-ha-1');
    const s2 = await startServer('pull-ha-2');
    const { agent, forward } = await startAgent(agentConfig('cluster-a', [s1.agentPort, s2.agentPort]));
    await until(() => agent.pull.status().available === 2, 5000, 'pull available on both servers');

    const held = await Promise.all(Array.from({ length: 10 }, () => agent.pull.dial('norm')));
    expect(s1.server.pull.stats().open).toBeGreaterThan(0);
    expect(s2.server.pull.stats().open).toBeGreaterThan(0);
    for (const h of held) h.destroy();

    await s1.server.shutdown({ graceful: false });
    await until(() => agent.stats().serverConnections === 1, 5000, 'one server left');
    const bodies = Array.from({ length: 10 }, (_, i) => payload(100 + i));
    const results = await Promise.all(bodies.map((b) => postEcho({ port: forward }, b)));
    results.forEach((r, i) => expect(r.body.equals(bodies[i]!)).toBe(true));
  });
});

async function firstPacket(raw: RawPull): Promise<Packet> {
  const it = raw.stream[Symbol.asyncIterator]();
  const r = await it.next();
  if (r.done) throw new Error('stream ended without a packet');
  return r.value;
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c.toString()));
        res.on('end', () => resolve(t));
      })
      .on('error', reject);
  });
}
