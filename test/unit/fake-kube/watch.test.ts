import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';

interface Seen {
  type: string;
  name: string;
  rv: string;
  labels?: Record<string, string>;
  object: Record<string, unknown>;
}

/** A client-node watch that records events and lets a test wait for the n-th one or for the end. */
async function watchOf(kc: KubeConfig, path: string, query: Record<string, string> = {}) {
  const events: Seen[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  let resolveEnd!: (err: unknown) => void;
  const ended = new Promise<unknown>((r) => (resolveEnd = r));
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> } }) => {
      const seen: Seen = { type, name: obj.metadata?.name ?? '', rv: obj.metadata?.resourceVersion ?? '', object: obj as Record<string, unknown> };
      if (obj.metadata?.labels) seen.labels = obj.metadata.labels;
      events.push(seen);
      for (const w of waiting.filter((w) => events.length >= w.n)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    (err) => resolveEnd(err),
  );
  return {
    events,
    ended,
    abort: () => controller.abort(),
    until: (n: number) => (events.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve }))),
  };
}

describe('fake Kubernetes API: watch through client-node Watch', () => {
  let fake: FakeKube;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['w1', 'w2', 'w3', 'w4'] });
    kc = fake.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
  });
  afterAll(() => fake.close());

  it('sends ADDED, MODIFIED, DELETED in order with growing resourceVersions, and ends when the client stops', async () => {
    const start = (await core.listNamespacedSecret({ namespace: 'w1' })).metadata!.resourceVersion!;
    const w = await watchOf(kc, '/api/v1/namespaces/w1/secrets', { resourceVersion: start });
    const s = await core.createNamespacedSecret({ namespace: 'w1', body: { metadata: { name: 's' }, stringData: { a: '1' } } });
    await core.replaceNamespacedSecret({ name: 's', namespace: 'w1', body: { ...s, stringData: { a: '2' } } });
    await core.deleteNamespacedSecret({ name: 's', namespace: 'w1' });
    await w.until(3);
    expect(w.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED s', 'MODIFIED s', 'DELETED s']);
    const rvs = w.events.map((e) => Number(e.rv));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(new Set(rvs).size).toBe(3);
    expect(w.events[0]!.object).toMatchObject({ apiVersion: 'v1', kind: 'Secret' });

    const closed = fake.nextRequest((r) => r.verb === 'watch' && r.namespace === 'w1');
    w.abort();
    await w.ended;
    const rec = await closed;
    expect(rec.code).toBe(200);
    expect(rec.query.watch).toBe('true');
    expect(fake.activeWatches()).toBe(0);
  });

  it('replays the events after an older resourceVersion, and sends the current state first without one', async () => {
    const before = fake.store.resourceVersion();
    fake.store.create('secrets', { metadata: { namespace: 'w2', name: 'one' } });
    fake.store.create('secrets', { metadata: { namespace: 'w2', name: 'two' } });
    fake.store.delete('secrets', 'w2', 'one');

    const replay = await watchOf(kc, '/api/v1/namespaces/w2/secrets', { resourceVersion: before });
    await replay.until(3);
    expect(replay.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED one', 'ADDED two', 'DELETED one']);
    replay.abort();

    const fresh = await watchOf(kc, '/api/v1/namespaces/w2/secrets');
    await fresh.until(1);
    expect(fresh.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED two']);
    fake.store.create('secrets', { metadata: { namespace: 'w2', name: 'three' } });
    await fresh.until(2);
    expect(fresh.events[1]).toMatchObject({ type: 'ADDED', name: 'three' });
    fresh.abort();
    await Promise.all([replay.ended, fresh.ended]);
  });

  it('follows label selectors: an object that stops matching is DELETED for the watcher, one that starts matching is ADDED', async () => {
    const rv = fake.store.resourceVersion();
    const w = await watchOf(kc, '/api/v1/namespaces/w3/secrets', { resourceVersion: rv, labelSelector: 'role=ca' });
    fake.store.create('secrets', { metadata: { namespace: 'w3', name: 'x', labels: { role: 'ca' } } });
    fake.store.create('secrets', { metadata: { namespace: 'w3', name: 'ignored', labels: { role: 'other' } } });
    const x = fake.store.get('secrets', 'w3', 'x')!;
    fake.store.update('secrets', { ...x, metadata: { ...x.metadata, labels: { role: 'old' } } });
    const y = fake.store.get('secrets', 'w3', 'ignored')!;
    fake.store.update('secrets', { ...y, metadata: { ...y.metadata, labels: { role: 'ca' } } });
    await w.until(3);
    expect(w.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED x', 'DELETED x', 'ADDED ignored']);
    expect(w.events[1]!.labels).toEqual({ role: 'old' });
    w.abort();
    await w.ended;
  });

  it('answers a watch from a compacted resourceVersion with an ERROR event, reason Expired, code 410', async () => {
    const old = fake.store.resourceVersion();
    fake.store.create('secrets', { metadata: { namespace: 'w4', name: 'later' } });
    fake.store.compact();
    const w = await watchOf(kc, '/api/v1/namespaces/w4/secrets', { resourceVersion: old });
    await w.until(1);
    expect(w.events[0]!.type).toBe('ERROR');
    expect(w.events[0]!.object).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    expect(await w.ended).toBeNull();
  });

  it('ends open watches cleanly when the server closes, and when timeoutSeconds runs out', async () => {
    const own = await startFakeKube();
    const w = await watchOf(own.kubeConfig(), '/api/v1/namespaces/default/secrets');
    expect(own.activeWatches()).toBe(1);
    await own.close();
    expect(await w.ended).toBeNull();

    const timed = await watchOf(kc, '/api/v1/namespaces/w4/secrets', { timeoutSeconds: '1' });
    expect(await timed.ended).toBeNull();
  });

  it('watches across namespaces and cluster-scoped kinds', async () => {
    const rv = fake.store.resourceVersion();
    const all = await watchOf(kc, '/api/v1/secrets', { resourceVersion: rv, fieldSelector: 'metadata.name=everywhere' });
    const ns = await watchOf(kc, '/api/v1/namespaces', { resourceVersion: rv });
    fake.store.create('secrets', { metadata: { namespace: 'w1', name: 'everywhere' } });
    fake.store.create('secrets', { metadata: { namespace: 'w2', name: 'everywhere' } });
    fake.store.create('namespaces', { metadata: { name: 'w5' } });
    await all.until(2);
    await ns.until(1);
    expect(all.events.map((e) => e.name)).toEqual(['everywhere', 'everywhere']);
    expect(ns.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED w5']);
    all.abort();
    ns.abort();
    await Promise.all([all.ended, ns.ended]);
  });
});
