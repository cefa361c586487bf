import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoordinationV1Api, CoreV1Api, V1MicroTime } from '@kubernetes/client-node';
import { apiFailure, startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';

describe('fake Kubernetes API: Leases, selectors and lists', () => {
  let fake: FakeKube;
  let leases: CoordinationV1Api;
  let core: CoreV1Api;

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['sel', 'other'] });
    leases = fake.kubeConfig().makeApiClient(CoordinationV1Api);
    core = fake.kubeConfig().makeApiClient(CoreV1Api);
    const seed: Array<[string, string, Record<string, string>]> = [
      ['sel', 'a', { app: 'tunnel', tier: 'server' }],
      ['sel', 'b', { app: 'tunnel', tier: 'agent' }],
      ['sel', 'c', { app: 'other' }],
      ['sel', 'd', {}],
      ['other', 'e', { app: 'tunnel', tier: 'server' }],
    ];
    for (const [namespace, name, labels] of seed) {
      fake.store.create('secrets', { metadata: { namespace, name, labels } });
    }
  });
  afterAll(() => fake.close());

  it('creates, renews and deletes a Lease; times come back with microsecond precision', async () => {
    const acquired = new Date('2025-01-02T03:04:05.678Z');
    const lease = await leases.createNamespacedLease({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'server-1', labels: { 'k8s-app': 'konnectivity-server' } },
        spec: { holderIdentity: 'server-1', leaseDurationSeconds: 40, acquireTime: new V1MicroTime(acquired.getTime()), renewTime: new V1MicroTime(acquired.getTime()) },
      },
    });
    expect(String(lease.spec?.acquireTime)).toBe('2025-01-02T03:04:05.678000Z');
    const rv1 = lease.metadata!.resourceVersion!;
    lease.spec!.renewTime = new V1MicroTime(acquired.getTime() + 10_000);
    const renewed = await leases.replaceNamespacedLease({ name: 'server-1', namespace: 'kube-system', body: lease });
    expect(String(renewed.spec?.renewTime)).toBe('2025-01-02T03:04:15.678000Z');
    expect(Number(renewed.metadata!.resourceVersion)).toBeGreaterThan(Number(rv1));

    const stale = await apiFailure(leases.replaceNamespacedLease({ name: 'server-1', namespace: 'kube-system', body: lease }));
    expect(stale.code).toBe(409);

    const listed = await leases.listNamespacedLease({ namespace: 'kube-system', labelSelector: 'k8s-app=konnectivity-server' });
    expect(listed.items.map((l) => l.metadata?.name)).toEqual(['server-1']);

    await leases.deleteNamespacedLease({ name: 'server-1', namespace: 'kube-system' });
    expect((await apiFailure(leases.readNamespacedLease({ name: 'server-1', namespace: 'kube-system' }))).code).toBe(404);
  });

  it('refuses a Lease with a non-positive duration (422)', async () => {
    const bad = await apiFailure(
      leases.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'bad' }, spec: { leaseDurationSeconds: 0 } } }),
    );
    expect(bad.code).toBe(422);
    expect(bad.status?.message).toBe('Lease "bad" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0');
    expect(bad.status?.details).toMatchObject({ group: 'coordination.k8s.io', kind: 'Lease' });
  });

  const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> => {
    const list = await core.listNamespacedSecret({
      namespace: 'sel',
      ...(labelSelector ? { labelSelector } : {}),
      ...(fieldSelector ? { fieldSelector } : {}),
    });
    return list.items.map((s) => s.metadata!.name!);
  };

  it.each([
    ['app=tunnel', ['a', 'b']],
    ['app==tunnel', ['a', 'b']],
    ['app!=tunnel', ['c', 'd']],
    ['tier in (server, agent)', ['a', 'b']],
    ['tier notin (server)', ['b', 'c', 'd']],
    ['tier', ['a', 'b']],
    ['!tier', ['c', 'd']],
    ['app=tunnel,tier=server', ['a']],
    ['app in (tunnel,other),!tier', ['c']],
  ])('label selector %s', async (selector, expected) => {
    expect(await names(selector)).toEqual(expected);
  });

  it('answers 400 to a malformed label selector', async () => {
    const bad = await apiFailure(core.listNamespacedSecret({ namespace: 'sel', labelSelector: 'app in tunnel' }));
    expect(bad.code).toBe(400);
    expect(bad.status?.reason).toBe('BadRequest');
  });

  it('filters by field selectors on metadata.name and metadata.namespace, and refuses unknown fields', async () => {
    expect(await names(undefined, 'metadata.name=b')).toEqual(['b']);
    expect(await names(undefined, 'metadata.name!=b,metadata.namespace=sel')).toEqual(['a', 'c', 'd']);
    const all = await core.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=e' });
    expect(all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual(['other/e']);
    const bad = await apiFailure(core.listNamespacedSecret({ namespace: 'sel', fieldSelector: 'spec.foo=1' }));
    expect(bad.code).toBe(400);
  });

  it('lists across namespaces at /api/v1/secrets with the list resourceVersion', async () => {
    const all = await core.listSecretForAllNamespaces({ labelSelector: 'tier=server' });
    expect(all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual(['other/e', 'sel/a']);
    expect(all.metadata?.resourceVersion).toBe(fake.store.resourceVersion());
    expect(fake.requests.at(-1)?.path).toBe('/api/v1/secrets');
  });

  it('pages a list with limit and continue', async () => {
    const first = await core.listNamespacedSecret({ namespace: 'sel', limit: 3 });
    expect(first.items.map((s) => s.metadata?.name)).toEqual(['a', 'b', 'c']);
    expect(first.metadata?.remainingItemCount).toBe(1);
    const rest = await core.listNamespacedSecret({ namespace: 'sel', limit: 3, _continue: first.metadata!._continue! });
    expect(rest.items.map((s) => s.metadata?.name)).toEqual(['d']);
    expect(rest.metadata?._continue).toBeUndefined();
  });

  it('keeps default namespaces, refuses to delete them, and takes contents along with a deleted namespace', async () => {
    const ns = await core.listNamespace();
    expect(ns.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const refuse = await apiFailure(core.deleteNamespace({ name: 'kube-system' }));
    expect(refuse.code).toBe(403);
    expect(refuse.status?.message).toBe('namespaces "kube-system" is forbidden: this namespace may not be deleted');

    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedSecret({ namespace: 'doomed', body: { metadata: { name: 's' } } });
    const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'doomed' });
    expect(sa.metadata?.name).toBe('default');
    const gone = await core.deleteNamespace({ name: 'doomed' });
    expect(gone.kind).toBe('Namespace');
    expect(fake.store.list('secrets', { namespace: 'doomed' })).toEqual([]);
    const bad = await apiFailure(core.createNamespace({ body: { metadata: { name: 'Not.A.Label' } } }));
    expect(bad.code).toBe(422);
  });
});
