/**
 * Issue #8 faults, in process with the real TunnelServer and TunnelAgent:
 *
 * - A split: agent-c reaches only replica X (its address list names X alone),
 *   agent-a reaches X and Y through the balancer. With the destHost strategy
 *   a dial for cluster-c that lands on Y fails at once with "No agent
 *   available" (dial() rejects with reason endpoint), never hangs; through X
 *   it works, and cluster-a works through both.
 * - Lease expiry and recovery against the fake Kubernetes API on a fake
 *   clock: the `servercount` header new agents get follows the live Leases
 *   as a replica's Lease expires, is culled by the other one, and is created
 *   again when the replica recovers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { grpcConnector } from '../../src/agent/server-connection.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, DialError, type Tunnel } from '../../src/client/index.js';
import { createLeaseStore } from '../../src/kube/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { LeaseMetrics, LeaseServerHA } from '../../src/server/ha/index.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { EchoTarget, until } from '../support/agent-peers.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { fakeClock } from '../unit/agent/fake-clock.js';

let dir: string;
let pki: DevPkiFiles;
let echo: EchoTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-ha-split-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent' });
  echo = await EchoTarget.start();
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});

let socketN = 0;
async function startServer(o: Partial<ServerConfig>, ha?: LeaseServerHA): Promise<{ server: TunnelServer; agentPort: number; uds: string }> {
  const uds = path.join(dir, `fe-${socketN++}.sock`);
  const server = new TunnelServer(
    defaultServerConfig({
      udsName: uds,
      serverPort: 0,
      agentPort: 0,
      agentBindAddress: '127.0.0.1',
      clusterCert: pki.serverCert,
      clusterKey: pki.serverKey,
      clusterCaCert: pki.caCert,
      healthPort: -1,
      adminPort: -1,
      allowEphemeralPorts: true,
      ...o,
    }),
    { logger: silentLogger(), registry: newRegistry(false), ...(ha ? { ha } : {}) },
  );
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort, uds };
}

function agentConfig(agentID: string, host: string, o: Partial<AgentConfig> = {}): AgentConfig {
  return defaultAgentConfig({
    agentID,
    agentIdentifiers: `host=${agentID.replace('agent-', 'cluster-')}`,
    dialAliases: { [agentID.replace('agent-', 'cluster-')]: '127.0.0.1' },
    proxyServerHost: host,
    caCert: pki.caCert,
    agentCert: pki.agentCert,
    agentKey: pki.agentKey,
    syncIntervalMs: 50,
    syncIntervalCapMs: 200,
    probeIntervalMs: 50,
    healthServerPort: -1,
    adminServerPort: -1,
    ...o,
  });
}

async function startAgent(cfg: AgentConfig): Promise<TunnelAgent> {
  const agent = new TunnelAgent(cfg, { logger: silentLogger(), registry: newRegistry(false) });
  cleanup.push(() => agent.stop());
  await agent.start();
  return agent;
}

async function tunnel(uds: string): Promise<Tunnel> {
  const t = await createTunnel({ uds });
  cleanup.push(() => t.close());
  return t;
}

async function echoes(t: Tunnel, address: string): Promise<boolean> {
  const sock = await t.dial(address, { timeoutMs: 10_000 });
  const payload = randomBytes(32 * 1024);
  const back = new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    sock.on('data', (b: Buffer) => {
      parts.push(b);
      n += b.length;
      if (n >= payload.length) resolve(Buffer.concat(parts));
    });
    sock.once('error', reject);
  });
  sock.write(payload);
  const got = await back;
  sock.end();
  return got.equals(payload);
}

describe('a split: an agent that reaches only some replicas', () => {
  it('dials for it through a replica it does not reach fail at once with "No agent available"; the others work', async () => {
    const x = await startServer({ serverID: 'replica-x', serverCount: 2, proxyStrategies: ['destHost'] });
    const y = await startServer({ serverID: 'replica-y', serverCount: 2, proxyStrategies: ['destHost'] });
    const lb = await TcpBalancer.start([x.agentPort, y.agentPort]);
    cleanup.push(() => lb.stop());
    const agentA = await startAgent(agentConfig('agent-a', '127.0.0.1', { proxyServerPort: lb.port }));
    // agent-c is told about replica X only (and sees servercount 2 there: it keeps looking, in vain).
    const agentC = await startAgent(agentConfig('agent-c', `127.0.0.1:${x.agentPort}`));
    await until(() => agentA.stats().serverConnections === 2 && agentC.stats().serverConnections === 1, 10_000, 'agents connected');
    await until(() => x.server.stats().agents === 2 && y.server.stats().agents === 1, 10_000, 'registered');

    const [tx, ty] = [await tunnel(x.uds), await tunnel(y.uds)];
    const cAddr = `cluster-c:${echo.port}`;
    const aAddr = `cluster-a:${echo.port}`;
    expect(await echoes(tx, cAddr)).toBe(true);
    expect(await echoes(tx, aAddr)).toBe(true);
    expect(await echoes(ty, aAddr)).toBe(true);

    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const err = await ty.dial(cAddr, { timeoutMs: 10_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const took = performance.now() - t0;
      expect(err).toBeInstanceOf(DialError);
      expect({ reason: (err as DialError).reason, text: (err as DialError).endpointError }).toEqual({ reason: 'endpoint', text: 'No agent available' });
      // Answered by the server, long before the 10 s this dial would otherwise wait.
      expect(took).toBeLessThan(10_000);
    }
    // The failures disturbed nothing.
    expect(await echoes(ty, aAddr)).toBe(true);
    expect(await echoes(tx, cAddr)).toBe(true);
    expect(agentC.stats().serverConnections).toBe(1);
  }, 60_000);
});

describe('Lease expiry and recovery', () => {
  let fake: FakeKube;
  beforeAll(async () => {
    fake = await startFakeKube();
  });
  afterAll(() => fake.close());

  it('the servercount new agents get follows the live Leases; a recovering replica creates its Lease again', async () => {
    const time = fakeClock(Date.parse('2026-03-01T10:00:00Z'));
    const has: LeaseServerHA[] = [];
    const replica = async (id: string): Promise<{ agentPort: number; ha: LeaseServerHA }> => {
      const token = randomBytes(16).toString('hex');
      fake.addUser({ name: id, token });
      const ha = new LeaseServerHA({
        serverID: id,
        store: createLeaseStore(fake.kubeConfigForToken(token)),
        namespace: 'kube-system',
        labels: { 'k8s-app': 'konnectivity-server' },
        fallbackCount: 1,
        logger: silentLogger(),
        metrics: new LeaseMetrics(newRegistry(false)),
        clock: time.clock,
      });
      has.push(ha);
      const s = await startServer({ serverID: id, enableLeaseController: true }, ha);
      return { agentPort: s.agentPort, ha };
    };
    const advance = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= 1000) {
        await time.fake.tickAsync(Math.min(1000, left));
        await Promise.all(has.map((h) => h.settled()));
      }
    };
    /** What a new agent connecting to this replica is told. */
    const headerCount = async (agentPort: number): Promise<number> => {
      const connect = grpcConnector({
        config: agentConfig('agent-probe', '127.0.0.1'),
        clock: { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
        handshakeTimeoutMs: 10_000,
      });
      const conn = await connect({ host: '127.0.0.1', port: agentPort, address: `127.0.0.1:${agentPort}` }, new AbortController().signal);
      conn.close();
      return conn.serverCount;
    };

    const a = await replica('replica-a');
    const b = await replica('replica-b');
    await Promise.all(has.map((h) => h.settled()));
    await advance(15_000);
    expect([await headerCount(a.agentPort), await headerCount(b.agentPort)]).toEqual([2, 2]);

    // replica-a loses the API: it cannot renew; 30 s after its last renewal its Lease is expired and b culls it.
    const heal = fake.intercept((req) => (req.user === 'replica-a' ? { code: 503, reason: 'ServiceUnavailable' } : undefined));
    await advance(30_000);
    expect(fake.store.get('leases', 'kube-system', 'konnectivity-proxy-server-replica-a')).toBeUndefined();
    expect(await headerCount(b.agentPort)).toBe(1);

    heal();
    await advance(2_000);
    expect(fake.store.get('leases', 'kube-system', 'konnectivity-proxy-server-replica-a')).toBeDefined();
    await advance(15_000);
    expect([await headerCount(a.agentPort), await headerCount(b.agentPort)]).toEqual([2, 2]);
  }, 60_000);
});
