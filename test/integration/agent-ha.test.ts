import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultAgentConfig, TunnelAgent, type AgentConfig } from '../../src/agent/index.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { EchoTarget, FakeProxyServer, RoundRobinForwarder, until } from '../support/agent-peers.js';

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(host: string, port: number, o: Partial<AgentConfig> = {}): AgentConfig {
  return defaultAgentConfig({
    agentID: 'cluster-a',
    proxyServerHost: host,
    proxyServerPort: port,
    caCert: pki.caCert,
    syncIntervalMs: 30,
    syncIntervalCapMs: 120,
    probeIntervalMs: 50,
    healthServerPort: -1,
    adminServerPort: -1,
    ...o,
  });
}

const isDialRsp = (p: Packet): boolean => p.type === PacketType.DIAL_RSP;

describe('agent HA: one stream per server replica', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup.length = 0;
  });

  async function replicas(ids: string[], count: number): Promise<{ servers: FakeProxyServer[]; lb: RoundRobinForwarder }> {
    const servers = await Promise.all(ids.map((serverID) => FakeProxyServer.start({ serverID, serverCount: count, pki })));
    const lb = await RoundRobinForwarder.start(servers.map((s) => s.port));
    cleanup.push(() => {
      for (const s of servers) s.stop();
    });
    cleanup.push(() => lb.close());
    return { servers, lb };
  }

  it('holds three connections to three servers behind one load-balanced address', async () => {
    const { servers, lb } = await replicas(['s1', 's2', 's3'], 3);
    const registry = newRegistry(false);
    const agent = new TunnelAgent(config('127.0.0.1', lb.port), { logger: silentLogger(), registry });
    cleanup.push(() => agent.stop());
    await agent.start();
    await Promise.all(servers.map((s) => s.nextStream()));
    await until(() => agent.stats().serverConnections === 3, 5000, 'three streams');
    const text = await registry.metrics();
    expect(text).toContain('konnectivity_network_proxy_agent_open_server_connections 3');
    expect(text).toContain('konnectivity_network_proxy_agent_known_server_count 3');
  });

  it('closes a connection that lands on a server it already holds and keeps looking', async () => {
    // s1 twice behind the balancer: the second visit is a duplicate.
    const { servers, lb } = await replicas(['s1', 's1', 's2'], 2);
    const agent = new TunnelAgent(config('127.0.0.1', lb.port), { logger: silentLogger(), registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();
    const dup = await servers[1]!.nextStream();
    await dup.ended; // closed by the agent
    await servers[2]!.nextStream();
    await until(() => agent.stats().serverConnections === 2, 5000, 'two streams');
    expect(servers[0]!.streams).toHaveLength(1);
  });

  it('tries every address of a --proxy-server-host list', async () => {
    const a = await FakeProxyServer.start({ serverID: 'a', pki });
    const b = await FakeProxyServer.start({ serverID: 'b', pki });
    cleanup.push(() => {
      a.stop();
      b.stop();
    });
    const agent = new TunnelAgent(config(`127.0.0.1:${a.port},localhost:${b.port}`, 1), { logger: silentLogger(), registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();
    await Promise.all([a.nextStream(), b.nextStream()]);
    await until(() => agent.stats().serverConnections === 2, 5000, 'two streams');
  });

  it('when a server dies, closes the endpoint sockets of its stream only, and reconnects', async () => {
    const { servers, lb } = await replicas(['s1', 's2'], 2);
    const echo = await EchoTarget.start();
    cleanup.push(() => echo.close());
    const agent = new TunnelAgent(config('127.0.0.1', lb.port), { logger: silentLogger(), registry: newRegistry(false) });
    cleanup.push(() => agent.stop());
    await agent.start();
    const [s1, s2] = await Promise.all(servers.map((s) => s.nextStream()));
    s1!.send(dialReq(echo.address, 1n));
    await s1!.next(isDialRsp);
    await until(() => echo.sockets.size === 1, 5000, 'endpoint socket of s1');
    const [sock1] = [...echo.sockets];
    s2!.send(dialReq(echo.address, 2n));
    await s2!.next(isDialRsp);
    await until(() => echo.sockets.size === 2, 5000, 'endpoint socket of s2');
    const sock2 = [...echo.sockets].find((x) => x !== sock1);
    const closed1 = new Promise((r) => sock1!.once('close', r));

    // s1 dies; a fresh s1 takes its place behind the balancer.
    servers[0]!.stop();
    await closed1;
    expect(sock2!.destroyed).toBe(false);
    expect(agent.stats().endpointConnections).toBe(1);
    const revived = await FakeProxyServer.start({ serverID: 's1-new', serverCount: 2, pki });
    cleanup.push(() => revived.stop());
    lb.backends = [revived.port];
    await revived.nextStream();
    await until(() => agent.stats().serverConnections === 2, 5000, 'reconnected');
    expect(sock2!.destroyed).toBe(false);
  });
});
