/**
 * How many servers an agent holds connections to: the --server-count-source
 * rules, the Lease counter against the fake Kubernetes API on a fake clock,
 * and the client set following a Lease count that differs from the headers.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ClientSet } from '../../../src/agent/client-set.js';
import type { ServerConnection, ServerTarget } from '../../../src/agent/index.js';
import { LeaseCounter, leaseCounterFromConfig } from '../../../src/agent/lease-counter.js';
import { connectionLimits } from '../../../src/agent/limits.js';
import { wantedServers } from '../../../src/agent/server-count.js';
import { StreamSession } from '../../../src/agent/session.js';
import { createLeaseStore } from '../../../src/kube/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AgentMetrics, newRegistry } from '../../../src/observability/metrics.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { fakeClock } from './fake-clock.js';
import { FakeDialer } from './fake-endpoint.js';
import { MemoryPacketStream } from './memory-stream.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const LABELS = { 'k8s-app': 'konnectivity-server' };

describe('wantedServers (--server-count-source)', () => {
  it.each([
    // source, header, leases, addresses, want
    ['default', 3, undefined, 1, 3, 'the header without lease counting'],
    ['default', 0, undefined, 1, 1, 'at least 1 before any header'],
    ['default', 6, 3, 1, 3, 'default: leases win when counted'],
    ['max', 3, 6, 1, 6, 'max: the larger (leases)'],
    ['max', 42, 24, 1, 42, 'max: the larger (header)'],
    ['max', 0, 0, 1, 1, 'max: both zero gives 1'],
    ['default', 1, 1, 3, 3, 'at least the number of listed addresses'],
  ] as const)('%s header=%s leases=%s addresses=%s → %s (%s)', (source, header, leases, addresses, want, _why) => {
    expect(wantedServers({ source, header, leases, addresses })).toBe(want);
  });
});

describe('LeaseCounter', () => {
  let fake: FakeKube;
  beforeEach(async () => {
    fake = await startFakeKube();
  });
  afterEach(() => fake.close());

  function putLease(name: string, renewMs: number | undefined, o: { labels?: Record<string, string>; acquireMs?: number; duration?: number } = {}): void {
    fake.store.create('leases', {
      metadata: { namespace: 'kube-system', name, labels: o.labels ?? LABELS },
      spec: {
        holderIdentity: name,
        leaseDurationSeconds: o.duration ?? 30,
        ...(renewMs !== undefined ? { renewTime: new Date(renewMs).toISOString() } : {}),
        ...(o.acquireMs !== undefined ? { acquireTime: new Date(o.acquireMs).toISOString() } : {}),
      },
    });
  }

  function counter(intervalMs = 5000) {
    const time = fakeClock(T0);
    const c = new LeaseCounter({
      store: createLeaseStore(fake.kubeConfig()),
      namespace: 'kube-system',
      selector: 'k8s-app=konnectivity-server',
      intervalMs,
      clock: time.clock,
      logger: silentLogger(),
    });
    return { c, time };
  }

  it('counts Leases matching the selector whose renewTime (or acquireTime) + duration is in the future', async () => {
    putLease('s1', T0 - 10_000);
    putLease('s2', undefined, { acquireMs: T0 - 5_000 }); // no renewTime: acquireTime counts
    putLease('s3', T0 - 31_000); // expired
    putLease('s4', undefined); // neither time: expired
    putLease('other', T0, { labels: { app: 'something-else' } });
    const { c } = counter();
    c.start();
    await c.settled();
    expect(c.count()).toBe(2);
    await c.stop();
  });

  it('follows Leases that appear and expire, listing every interval; keeps the last good count when none is live', async () => {
    const { c, time } = counter(5000);
    expect(c.count()).toBe(1); // before any list
    putLease('s1', T0);
    c.start();
    await c.settled();
    expect(c.count()).toBe(1);
    putLease('s2', T0 + 1000);
    putLease('s3', T0 + 1000);
    await time.fake.tickAsync(4999);
    expect(c.count()).toBe(1); // not listed again yet
    await time.fake.tickAsync(1);
    await c.settled();
    expect(c.count()).toBe(3);
    await time.fake.tickAsync(25_000); // s1 (renewed at T0) has just expired; s2, s3 live until T0 + 31 s
    await c.settled();
    expect(c.count()).toBe(2);
    await time.fake.tickAsync(10_000); // all expired: the last good count stands
    await c.settled();
    expect(c.count()).toBe(2);
    await c.stop();
    expect(time.fake.countTimers()).toBe(0);
  });

  it('from the config: off unless --count-server-leases; a clear start failure without any Kubernetes configuration', () => {
    const base = { kubeconfig: '', leaseNamespace: 'kube-system', leaseLabelSelector: 'k8s-app=konnectivity-server' };
    const deps = { clock: fakeClock(T0).clock, logger: silentLogger(), env: {} };
    expect(leaseCounterFromConfig({ ...base, countServerLeases: false }, deps)).toBeUndefined();
    expect(() => leaseCounterFromConfig({ ...base, countServerLeases: true }, deps)).toThrow(
      expect.objectContaining({ code: 'ERR_KUBE_CONFIG', message: expect.stringMatching(/^--count-server-leases: no Kubernetes configuration/) }),
    );
    expect(leaseCounterFromConfig({ ...base, countServerLeases: true, kubeconfig: fake.kubeconfigPath }, deps)).toBeInstanceOf(LeaseCounter);
  });

  it('keeps the last count while the list fails', async () => {
    putLease('s1', T0);
    putLease('s2', T0);
    const { c, time } = counter(5000);
    c.start();
    await c.settled();
    expect(c.count()).toBe(2);
    fake.intercept(() => ({ code: 503, reason: 'ServiceUnavailable' }));
    await time.fake.tickAsync(40_000);
    await c.settled();
    expect(c.count()).toBe(2);
    await c.stop();
  });
});

describe('ClientSet with a Lease count', () => {
  /** A connector answering server ids in turn, each with servercount header 1. */
  function setup(answers: string[], leases: () => number, source: 'default' | 'max') {
    const { fake, clock } = fakeClock(0);
    const metrics = new AgentMetrics(newRegistry(false));
    const dialer = new FakeDialer();
    let i = 0;
    const attempts: string[] = [];
    const target: ServerTarget = { host: 'lb', port: 8091, address: 'lb:8091' };
    const set = new ClientSet({
      targets: [target],
      connector: async (t) => {
        const id = answers[Math.min(i++, answers.length - 1)]!;
        attempts.push(id);
        const stream = new MemoryPacketStream();
        let closed = false;
        const c: ServerConnection = {
          serverID: id,
          serverCount: 1,
          target: t,
          stream,
          isReady: () => !closed,
          close: () => {
            closed = true;
            stream.close();
          },
        };
        return c;
      },
      createSession: (conn, logger) =>
        new StreamSession({
          stream: conn.stream,
          serverID: conn.serverID,
          dialer: dialer.dial,
          dialTimeoutMs: 5000,
          limits: connectionLimits(150),
          clock,
          logger,
          metrics,
        }),
      syncIntervalMs: 1000,
      syncIntervalCapMs: 10_000,
      probeIntervalMs: 1000,
      syncForever: false,
      leaseCount: leases,
      serverCountSource: source,
      clock,
      random: () => 0,
      logger: silentLogger(),
      metrics,
    });
    return { fake, set, attempts, metrics };
  }

  it('default: holds as many servers as there are live Leases, whatever the headers say, and follows the count', async () => {
    let leases = 3;
    const { fake, set, metrics } = setup(['s1', 's2', 's3', 's4'], () => leases, 'default');
    set.start();
    await fake.tickAsync(2000);
    expect(set.size).toBe(3);
    expect((await metrics.knownServerCount.get()).values[0]!.value).toBe(3);
    await fake.tickAsync(5000);
    expect(set.size).toBe(3); // enough: no more attempts
    leases = 4;
    await fake.tickAsync(1000);
    expect(set.size).toBe(4);
    await set.stop();
  });

  it('max: the larger of the Lease count and the headers', async () => {
    const { fake, set } = setup(['s1', 's2'], () => 1, 'max');
    set.start();
    await fake.tickAsync(5000);
    expect(set.wanted).toBe(1);
    expect(set.size).toBe(1);
    await set.stop();
    const two = setup(['s1', 's2', 's3'], () => 2, 'max');
    two.set.start();
    await two.fake.tickAsync(5000);
    expect(two.set.size).toBe(2);
    await two.set.stop();
  });
});
