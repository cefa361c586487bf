import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type V1Secret } from '@kubernetes/client-node';
import { apiFailure, startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('fake Kubernetes API: Secrets through the real client-node', () => {
  let fake: FakeKube;
  let core: CoreV1Api;

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['tunnel'] });
    core = fake.kubeConfig().makeApiClient(CoreV1Api);
  });
  afterAll(() => fake.close());

  it('creates, reads, replaces and deletes a Secret, with a new resourceVersion on every write', async () => {
    const created = await core.createNamespacedSecret({
      namespace: 'tunnel',
      body: { metadata: { name: 'ca', labels: { app: 'tunnel' } }, data: { 'ca.crt': b64('PEM') } },
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.type).toBe('Opaque');
    const rv1 = created.metadata!.resourceVersion!;

    const read = await core.readNamespacedSecret({ name: 'ca', namespace: 'tunnel' });
    expect(Buffer.from(read.data!['ca.crt']!, 'base64').toString()).toBe('PEM');
    expect(read.metadata?.resourceVersion).toBe(rv1);

    read.data!['ca.key'] = b64('KEY');
    const replaced = await core.replaceNamespacedSecret({ name: 'ca', namespace: 'tunnel', body: read });
    expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(rv1));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);
    expect(Object.keys(replaced.data!).sort()).toEqual(['ca.crt', 'ca.key']);

    const status = await core.deleteNamespacedSecret({ name: 'ca', namespace: 'tunnel' });
    expect(status.status).toBe('Success');
    expect(status.details?.uid).toBe(created.metadata?.uid);
    expect(fake.store.get('secrets', 'tunnel', 'ca')).toBeUndefined();
  });

  it('answers 409 Conflict to a replace with a stale resourceVersion, and keeps the newer data', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'race' }, stringData: { v: '1' } } });
    const first = { ...s, stringData: { v: '2' } } as V1Secret;
    await core.replaceNamespacedSecret({ name: 'race', namespace: 'tunnel', body: first });
    const stale = { ...s, stringData: { v: '3' } } as V1Secret;
    const { code, status } = await apiFailure(core.replaceNamespacedSecret({ name: 'race', namespace: 'tunnel', body: stale }));
    expect(code).toBe(409);
    expect(status?.reason).toBe('Conflict');
    expect(status?.message).toBe(
      'Operation cannot be fulfilled on secrets "race": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(status?.details).toEqual({ name: 'race', kind: 'secrets' });
    const now = await core.readNamespacedSecret({ name: 'race', namespace: 'tunnel' });
    expect(Buffer.from(now.data!.v!, 'base64').toString()).toBe('2');
  });

  it('answers 409 AlreadyExists to a duplicate create', async () => {
    await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'dup' } } });
    const { code, status } = await apiFailure(core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'dup' } } }));
    expect(code).toBe(409);
    expect(status?.reason).toBe('AlreadyExists');
    expect(status?.message).toBe('secrets "dup" already exists');
  });

  it('answers 404 NotFound with the API wording for a missing Secret, and for a missing namespace on create', async () => {
    const miss = await apiFailure(core.readNamespacedSecret({ name: 'nope', namespace: 'tunnel' }));
    expect(miss.code).toBe(404);
    expect(miss.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'secrets "nope" not found' });
    expect(miss.status?.details).toEqual({ name: 'nope', kind: 'secrets' });

    const noNs = await apiFailure(core.createNamespacedSecret({ namespace: 'ghost', body: { metadata: { name: 'x' } } }));
    expect(noNs.code).toBe(404);
    expect(noNs.status?.message).toBe('namespaces "ghost" not found');

    const replaceMissing = await apiFailure(
      core.replaceNamespacedSecret({ name: 'nope', namespace: 'tunnel', body: { metadata: { name: 'nope' } } }),
    );
    expect(replaceMissing.code).toBe(404);
  });

  it('answers 422 Invalid with causes for a bad name, a missing name and a bad data key', async () => {
    const bad = await apiFailure(core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'Bad_Name' } } }));
    expect(bad.code).toBe(422);
    expect(bad.status?.reason).toBe('Invalid');
    expect(bad.status?.message).toMatch(/^Secret "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    expect(bad.status?.details?.causes).toEqual([
      expect.objectContaining({ reason: 'FieldValueInvalid', field: 'metadata.name' }),
    ]);

    const missing = await apiFailure(core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: {} } }));
    expect(missing.code).toBe(422);
    expect(missing.status?.message).toBe('Secret "" is invalid: metadata.name: Required value: name or generateName is required');

    const key = await apiFailure(
      core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'k' }, data: { 'bad key': b64('x') } } }),
    );
    expect(key.code).toBe(422);
    expect(key.status?.details?.causes?.[0]?.field).toBe('data[bad key]');
  });

  it('answers 400 when the body names another object, namespace or apiVersion than the request', async () => {
    await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'mine' } } });
    const name = await apiFailure(core.replaceNamespacedSecret({ name: 'mine', namespace: 'tunnel', body: { metadata: { name: 'other' } } }));
    expect(name.code).toBe(400);
    expect(name.status?.message).toBe('the name of the object (other) does not match the name on the URL (mine)');
    const ns = await apiFailure(
      core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'n', namespace: 'default' } } }),
    );
    expect(ns.code).toBe(400);
    expect(ns.status?.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
    const version = await apiFailure(
      core.createNamespacedSecret({ namespace: 'tunnel', body: { apiVersion: 'v2', kind: 'Secret', metadata: { name: 'v' } } }),
    );
    expect(version.code).toBe(400);
    expect(version.status?.message).toContain('does not match the expected API version (v1)');
  });

  it('folds stringData into data, generates names, and keeps the type immutable', async () => {
    const s = await core.createNamespacedSecret({
      namespace: 'tunnel',
      body: { metadata: { generateName: 'boot-' }, type: 'example.com/boot', stringData: { token: 'abc' } },
    });
    expect(s.metadata?.name).toMatch(/^boot-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(s.stringData).toBeUndefined();
    expect(s.data).toEqual({ token: b64('abc') });
    const changed = await apiFailure(
      core.replaceNamespacedSecret({ name: s.metadata!.name!, namespace: 'tunnel', body: { ...s, type: 'Opaque' } }),
    );
    expect(changed.code).toBe(422);
    expect(changed.status?.message).toContain('type: Invalid value: "Opaque": field is immutable');
  });

  it('does not bump the resourceVersion of a replace that changes nothing', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'same' }, data: { a: b64('1') } } });
    const again = await core.replaceNamespacedSecret({ name: 'same', namespace: 'tunnel', body: s });
    expect(again.metadata?.resourceVersion).toBe(s.metadata?.resourceVersion);
  });

  it('patches with JSON patch (the client default), merge patch and strategic merge patch', async () => {
    await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'p', labels: { a: '1' } }, data: { x: b64('x') } } });
    const json = await core.patchNamespacedSecret({
      name: 'p',
      namespace: 'tunnel',
      body: [
        { op: 'add', path: '/metadata/labels/b', value: '2' },
        { op: 'remove', path: '/data/x' },
      ],
    });
    expect(json.metadata?.labels).toEqual({ a: '1', b: '2' });
    expect(json.data).toEqual({});
    const merge = await core.patchNamespacedSecret(
      { name: 'p', namespace: 'tunnel', body: { metadata: { labels: { a: null, c: '3' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merge.metadata?.labels).toEqual({ b: '2', c: '3' });
    const strategic = await core.patchNamespacedSecret(
      { name: 'p', namespace: 'tunnel', body: { stringData: { y: 'why' } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(strategic.data).toEqual({ y: b64('why') });
    const stale = await apiFailure(
      core.patchNamespacedSecret(
        { name: 'p', namespace: 'tunnel', body: { metadata: { resourceVersion: json.metadata!.resourceVersion, labels: { d: '4' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(stale.code).toBe(409);
    const failedTest = await apiFailure(
      core.patchNamespacedSecret({ name: 'p', namespace: 'tunnel', body: [{ op: 'test', path: '/metadata/labels/c', value: 'no' }] }),
    );
    expect(failedTest.code).toBe(422);
    const types = fake.requests.filter((r) => r.verb === 'patch' && r.name === 'p').map((r) => r.contentType);
    expect(new Set(types)).toEqual(
      new Set([PatchStrategy.JsonPatch, PatchStrategy.MergePatch, PatchStrategy.StrategicMergePatch]),
    );
  });

  it('refuses a delete whose resourceVersion precondition is stale', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'pre' } } });
    await core.patchNamespacedSecret({ name: 'pre', namespace: 'tunnel', body: [{ op: 'add', path: '/metadata/labels', value: { v: '2' } }] });
    const { code, status } = await apiFailure(
      core.deleteNamespacedSecret({ name: 'pre', namespace: 'tunnel', body: { preconditions: { resourceVersion: s.metadata!.resourceVersion! } } }),
    );
    expect(code).toBe(409);
    expect(status?.message).toContain('Precondition failed: ResourceVersion in precondition');
    expect(fake.store.get('secrets', 'tunnel', 'pre')).toBeDefined();
  });

  it('serves what was seeded through the store, and the generic KubernetesObjectApi through discovery', async () => {
    fake.store.create('secrets', { metadata: { name: 'seeded', namespace: 'default' }, stringData: { k: 'v' } });
    const objects = KubernetesObjectApi.makeApiClient(fake.kubeConfig());
    const got = (await objects.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seeded', namespace: 'default' } })) as V1Secret;
    expect(got.data).toEqual({ k: b64('v') });
  });

  it('does not create anything on a dry run', async () => {
    const dry = await core.createNamespacedSecret({ namespace: 'tunnel', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    expect(dry.metadata?.name).toBe('dry');
    expect(fake.store.get('secrets', 'tunnel', 'dry')).toBeUndefined();
  });
});
