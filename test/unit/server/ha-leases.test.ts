/**
 * The server replicas' Leases against the fake Kubernetes API, on a fake
 * clock: each replica holds and renews its own Lease, a replica whose Lease
 * expires is culled by another, the count sent to agents follows, a
 * recovering replica re-creates its Lease, and the upstream Lease metrics
 * count every call.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { createLeaseStore, type LeaseStore } from '../../../src/kube/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry } from '../../../src/observability/metrics.js';
import { LeaseMetrics, LeaseServerHA, serverHAFromConfig, staticServerHA } from '../../../src/server/ha/index.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { fakeClock } from '../agent/fake-clock.js';

const NS = 'kube-system';
const LABELS = { 'k8s-app': 'konnectivity-server' };
const T0 = Date.parse('2026-03-01T10:00:00Z');
const PREFIX = 'konnectivity_network_proxy_server_';

interface Replica {
  id: string;
  ha: LeaseServerHA;
  registry: Registry;
  /** Answers every API request of this replica with 503 until the returned function is called. */
  cutOff(): () => void;
}

let fake: FakeKube;
let time: ReturnType<typeof fakeClock>;
let started: Replica[];

beforeEach(async () => {
  fake = await startFakeKube();
  time = fakeClock(T0);
  started = [];
});

afterEach(async () => {
  await Promise.all(started.map((r) => r.ha.stop()));
  await fake.close();
});

/** A LeaseServerHA for server id `id`, talking to the API as its own user. */
function replica(id: string, o: { fallbackCount?: number; store?: (s: LeaseStore) => LeaseStore } = {}): Replica {
  const token = randomBytes(16).toString('hex');
  fake.addUser({ name: id, token });
  const base = createLeaseStore(fake.kubeConfigForToken(token));
  const registry = newRegistry(false);
  const ha = new LeaseServerHA({
    serverID: id,
    store: o.store ? o.store(base) : base,
    namespace: NS,
    labels: LABELS,
    fallbackCount: o.fallbackCount ?? 1,
    logger: silentLogger(),
    metrics: new LeaseMetrics(registry),
    clock: time.clock,
  });
  const r: Replica = {
    id,
    ha,
    registry,
    cutOff: () => fake.intercept((req) => (req.user === id ? { code: 503, reason: 'ServiceUnavailable', message: 'etcd is down' } : undefined)),
  };
  started.push(r);
  return r;
}

/** Moves the fake clock by `ms` in 1 s steps, letting every renewal and collection finish at each step. */
async function advance(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    await time.fake.tickAsync(Math.min(1000, left));
    await Promise.all(started.map((r) => r.ha.settled()));
  }
}

async function startAll(...rs: Replica[]): Promise<void> {
  for (const r of rs) r.ha.start();
  await Promise.all(rs.map((r) => r.ha.settled()));
}

function lease(id: string): Record<string, unknown> | undefined {
  return fake.store.get('leases', NS, `konnectivity-proxy-server-${id}`) as Record<string, unknown> | undefined;
}

function spec(id: string): Record<string, unknown> {
  const l = lease(id);
  if (!l) throw new Error(`no lease for ${id}`);
  return l['spec'] as Record<string, unknown>;
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${PREFIX}${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('server replica Leases', () => {
  it('creates konnectivity-proxy-server-<id> held by the server id, 30 s, with the labels, and renews it every 15 s', async () => {
    const a = replica('replica-a');
    await startAll(a);
    const l = lease('replica-a')!;
    expect((l['metadata'] as { labels: unknown }).labels).toEqual(LABELS);
    expect(spec('replica-a')).toMatchObject({
      holderIdentity: 'replica-a',
      leaseDurationSeconds: 30,
      acquireTime: '2026-03-01T10:00:00.000000Z',
      renewTime: '2026-03-01T10:00:00.000000Z',
      leaseTransitions: 0,
    });
    await advance(14_000);
    expect(spec('replica-a')['renewTime']).toBe('2026-03-01T10:00:00.000000Z');
    await advance(1_000);
    expect(spec('replica-a')['renewTime']).toBe('2026-03-01T10:00:15.000000Z');
    expect(spec('replica-a')['acquireTime']).toBe('2026-03-01T10:00:00.000000Z');
    expect(a.ha.serverCount()).toBe(1);
  });

  it('sends the number of live Leases as the server count once listed', async () => {
    const [a, b, c] = [replica('a'), replica('b'), replica('c')];
    await startAll(a, b, c);
    await advance(5_000); // one list after all three exist
    expect([a, b, c].map((r) => r.ha.serverCount())).toEqual([3, 3, 3]);
    expect(a.ha.describe()).toMatchObject({ source: 'leases', namespace: NS, selector: 'k8s-app=konnectivity-server', ownLease: 'konnectivity-proxy-server-a' });
  });

  it('culls the Lease of a replica that stopped renewing, the count follows, and the replica re-creates its Lease when it recovers', async () => {
    const [a, b] = [replica('a'), replica('b')];
    await startAll(a, b);
    await advance(15_000);
    expect(b.ha.serverCount()).toBe(2);

    const reconnect = a.cutOff(); // a can no longer reach the API: its renewals fail from 10:00:30 on
    await advance(29_000); // 10:00:44: a's Lease (renewed 10:00:15) is still live
    expect(lease('a')).toBeDefined();
    expect(b.ha.serverCount()).toBe(2);
    await advance(1_000); // 10:00:45: expired, and b culls right then (every 15 s)
    expect(lease('a')).toBeUndefined();
    expect(b.ha.serverCount()).toBe(1);
    const bm = await b.registry.metrics();
    expect(metric(bm, 'culled_leases_count')).toBe(1);
    expect(metric(bm, 'lease_delete_total', '{http_status_code="200",reason=""}')).toBe(1);
    expect(metric(bm, 'lease_list_total', '{http_status_code="200",reason=""}')).toBe(10); // every 5 s since 10:00:00
    const am = await a.registry.metrics();
    expect(metric(am, 'lease_list_total', '{http_status_code="503",reason="ServiceUnavailable"}')).toBe(6); // 10:00:20 to 10:00:45

    reconnect();
    await advance(2_000); // a's next retry
    expect(spec('a')).toMatchObject({ holderIdentity: 'a', acquireTime: '2026-03-01T10:00:46.000000Z', leaseTransitions: 0 });
    expect(a.ha.serverCount()).toBeGreaterThanOrEqual(1);
    await advance(5_000); // b's next list sees it again
    expect(b.ha.serverCount()).toBe(2);
    expect(lease('a')).toBeDefined();
  });

  it('keeps a Lease renewed between the list and the delete (resourceVersion precondition), counted as a 409', async () => {
    const stale = new Date(T0 - 60_000);
    fake.store.create('leases', {
      metadata: { namespace: NS, name: 'konnectivity-proxy-server-slow', labels: LABELS },
      spec: { holderIdentity: 'slow', leaseDurationSeconds: 30, renewTime: stale.toISOString(), acquireTime: stale.toISOString() },
    });
    // The slow replica renews just before b's delete lands.
    const b = replica('b', {
      store: (s) => ({
        ...s,
        delete: async (ns, name, opts) => {
          const cur = fake.store.get('leases', ns, name) as Record<string, unknown>;
          fake.store.update('leases', { ...cur, spec: { ...(cur['spec'] as object), renewTime: new Date(time.fake.now).toISOString() } });
          return s.delete(ns, name, opts);
        },
      }),
    });
    await startAll(b);
    expect(lease('slow')).toBeDefined();
    const m = await b.registry.metrics();
    expect(metric(m, 'lease_delete_total', '{http_status_code="409",reason="Conflict"}')).toBe(1);
    expect(metric(m, 'culled_leases_count')).toBe(0);
  });

  it('leaves expired Leases without the replica labels alone', async () => {
    const stale = new Date(T0 - 60_000).toISOString();
    fake.store.create('leases', {
      metadata: { namespace: NS, name: 'kube-scheduler' },
      spec: { holderIdentity: 'sched', leaseDurationSeconds: 15, renewTime: stale },
    });
    const b = replica('b');
    await startAll(b);
    await advance(15_000);
    expect(fake.store.get('leases', NS, 'kube-scheduler')).toBeDefined();
  });

  it('takes over a Lease recorded under another holder, counting the transition', async () => {
    fake.store.create('leases', {
      metadata: { namespace: NS, name: 'konnectivity-proxy-server-a', labels: LABELS },
      spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 30, renewTime: new Date(T0).toISOString(), leaseTransitions: 2 },
    });
    await startAll(replica('a'));
    expect(spec('a')).toMatchObject({ holderIdentity: 'a', acquireTime: '2026-03-01T10:00:00.000000Z', leaseTransitions: 3 });
  });

  it('deletes its own Lease on stop, so the others count one less at their next pass', async () => {
    const [a, b] = [replica('a'), replica('b')];
    await startAll(a, b);
    await advance(15_000);
    await a.ha.stop();
    expect(lease('a')).toBeUndefined();
    await advance(5_000);
    expect(b.ha.serverCount()).toBe(1);
  });

  it('without any live Lease (API unreachable from the start) sends --server-count', async () => {
    const a = replica('a', { fallbackCount: 3 });
    a.cutOff();
    await startAll(a);
    expect(a.ha.serverCount()).toBe(3);
    const m = await a.registry.metrics();
    expect(metric(m, 'lease_list_total', '{http_status_code="503",reason="ServiceUnavailable"}')).toBe(1);
    expect(m).toContain(`${PREFIX}lease_list_latency_seconds_count{http_status_code="503"} 1`);
  });

  it('from the config: Leases through --kubeconfig, a clear start failure without any Kubernetes configuration', async () => {
    const base = { serverID: 'cfg', serverCount: 2, leaseNamespace: NS, leaseLabels: LABELS, kubeconfig: '' };
    const deps = { logger: silentLogger(), registry: newRegistry(false), env: {} };
    expect(serverHAFromConfig({ ...base, enableLeaseController: false }, deps).describe()).toEqual({ source: 'flag', serverCount: 2 });
    expect(() => serverHAFromConfig({ ...base, enableLeaseController: true }, deps)).toThrow(
      expect.objectContaining({ code: 'ERR_KUBE_CONFIG', message: expect.stringMatching(/^--enable-lease-controller: no Kubernetes configuration: pass --kubeconfig/) }),
    );
    const ha = serverHAFromConfig({ ...base, enableLeaseController: true, kubeconfig: fake.kubeconfigPath }, deps);
    ha.start();
    await (ha as LeaseServerHA).settled();
    expect(lease('cfg')).toBeDefined();
    await ha.stop();
    expect(lease('cfg')).toBeUndefined();
  });

  it('without Leases the count is the --server-count flag', () => {
    const s = staticServerHA(3);
    expect(s.serverCount()).toBe(3);
    expect(s.describe()).toEqual({ source: 'flag', serverCount: 3 });
  });
});
