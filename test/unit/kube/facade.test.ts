import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createLeaseStore,
  createSecretStore,
  createTokenReviewer,
  isAlreadyExists,
  isConflict,
  KubeError,
  loadKubeConfig,
} from '../../../src/kube/index.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { kubeconfigYaml } from '../../support/fake-kube/kubeconfig.js';

async function kubeError(p: Promise<unknown>): Promise<KubeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof KubeError)) throw new Error(`expected a KubeError, got ${String(err)}`);
  return err;
}

describe('src/kube facade against the fake Kubernetes API', () => {
  let fake: FakeKube;
  let dir: string;

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['tunnel'] });
    dir = mkdtempSync(path.join(tmpdir(), 'kube-facade-'));
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('loadKubeConfig', () => {
    it('loads a kubeconfig file', () => {
      const kc = loadKubeConfig({ kubeconfigPath: fake.kubeconfigPath });
      expect(kc.getCurrentCluster()?.server).toBe(fake.url);
    });

    it('says which file is missing', () => {
      expect(() => loadKubeConfig({ kubeconfigPath: path.join(dir, 'nope') })).toThrow(
        expect.objectContaining({ code: 'ERR_KUBE_CONFIG', message: `kubeconfig ${path.join(dir, 'nope')}: no such file` }),
      );
    });

    it('falls back to the in-cluster ServiceAccount, which then works', async () => {
      const sa = path.join(dir, 'sa');
      rmSync(sa, { recursive: true, force: true });
      mkdirSync(sa);
      writeFileSync(path.join(sa, 'token'), fake.adminToken);
      writeFileSync(path.join(sa, 'ca.crt'), fake.caPem);
      const port = new URL(fake.url).port;
      const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: sa });
      fake.store.create('secrets', { metadata: { namespace: 'tunnel', name: 'in-cluster' }, stringData: { ok: 'yes' } });
      const s = await createSecretStore(kc).get('tunnel', 'in-cluster');
      expect(s?.data.ok?.toString()).toBe('yes');
    });

    it('explains what is missing when neither a file nor in-cluster configuration exists', () => {
      let err: unknown;
      try {
        loadKubeConfig({ env: {}, serviceAccountDir: path.join(dir, 'no-sa') });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KubeError);
      expect((err as KubeError).code).toBe('ERR_KUBE_CONFIG');
      expect((err as KubeError).message).toMatch(/^no Kubernetes configuration: pass --kubeconfig, or run in a pod with a ServiceAccount \(KUBERNETES_SERVICE_HOST/);
    });
  });

  describe('SecretStore', () => {
    it('round-trips binary data and maps conflicts, duplicates and absence', async () => {
      const store = createSecretStore(fake.kubeConfig());
      expect(await store.get('tunnel', 'ca')).toBeUndefined();
      const created = await store.create({ namespace: 'tunnel', name: 'ca', type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from([0, 1, 2]), 'tls.key': Buffer.from('k') }, labels: { app: 'tunnel' } });
      expect(created.resourceVersion).toBeDefined();
      const read = (await store.get('tunnel', 'ca'))!;
      expect(read.data['tls.crt']).toEqual(Buffer.from([0, 1, 2]));
      expect(read).toMatchObject({ type: 'kubernetes.io/tls', labels: { app: 'tunnel' }, uid: created.uid });

      const dup = await kubeError(store.create({ namespace: 'tunnel', name: 'ca', data: {} }));
      expect(isAlreadyExists(dup)).toBe(true);
      expect(dup).toMatchObject({ code: 'ERR_KUBE_API', status: 409, reason: 'AlreadyExists', message: 'create Secret tunnel/ca: secrets "ca" already exists' });

      const next = await store.update({ ...read, data: { ...read.data, 'tls.key': Buffer.from('k2') } });
      const stale = await kubeError(store.update({ ...read, data: { ...read.data, 'tls.key': Buffer.from('k3') } }));
      expect(isConflict(stale)).toBe(true);
      expect(stale.status).toBe(409);

      const invalid = await kubeError(store.update({ ...next, data: { 'tls.crt': Buffer.from('x') } }));
      expect(invalid).toMatchObject({ status: 422, reason: 'Invalid' });
      expect(invalid.causes).toEqual([expect.objectContaining({ field: 'data[tls.key]' })]);

      expect(await store.delete('tunnel', 'ca', { resourceVersion: read.resourceVersion! }).catch((e: KubeError) => e.reason)).toBe('Conflict');
      expect(await store.delete('tunnel', 'ca')).toBe(true);
      expect(await store.delete('tunnel', 'ca')).toBe(false);
    });

    it('reports 403 and 401 with status and reason', async () => {
      fake.addUser({ name: 'reader', token: 'reader-token' });
      fake.allow('reader', 'get', 'secrets', 'default');
      const forbidden = await kubeError(createSecretStore(fake.kubeConfig('reader')).get('tunnel', 'x'));
      expect(forbidden).toMatchObject({ status: 403, reason: 'Forbidden' });
      expect(forbidden.message).toContain('User "reader" cannot get resource "secrets"');
      const unknown = await kubeError(createSecretStore(fake.kubeConfigForToken('nobody')).get('tunnel', 'x'));
      expect(unknown).toMatchObject({ status: 401, reason: 'Unauthorized' });
    });
  });

  describe('LeaseStore', () => {
    it('creates, lists by label, renews with a conflict check, and deletes', async () => {
      const leases = createLeaseStore(fake.kubeConfig());
      const t0 = new Date('2025-06-01T12:00:00.250Z');
      const l = await leases.create({
        namespace: 'kube-system',
        name: 'server-a',
        holderIdentity: 'server-a',
        leaseDurationSeconds: 30,
        acquireTime: t0,
        renewTime: t0,
        labels: { 'k8s-app': 'konnectivity-server' },
      });
      expect(l.renewTime).toEqual(t0);
      await leases.create({ namespace: 'kube-system', name: 'unrelated', holderIdentity: 'x' });
      const listed = await leases.list('kube-system', 'k8s-app=konnectivity-server');
      expect(listed.map((x) => x.name)).toEqual(['server-a']);
      expect(listed[0]).toMatchObject({ holderIdentity: 'server-a', leaseDurationSeconds: 30, acquireTime: t0 });

      const renewed = await leases.update({ ...l, renewTime: new Date(t0.getTime() + 5000) });
      expect(renewed.renewTime?.getTime()).toBe(t0.getTime() + 5000);
      const stale = await kubeError(leases.update({ ...l, renewTime: new Date(t0.getTime() + 6000) }));
      expect(isConflict(stale)).toBe(true);
      expect(stale.message).toMatch(/^update Lease kube-system\/server-a: Operation cannot be fulfilled on leases.coordination.k8s.io "server-a"/);
      expect(await leases.delete('kube-system', 'server-a')).toBe(true);
      expect(await leases.get('kube-system', 'server-a')).toBeUndefined();
    });
  });

  describe('errors without an answer', () => {
    it('maps a refused connection to ERR_KUBE_UNREACHABLE', async () => {
      const gone = await startFakeKube();
      const kc = gone.kubeConfig();
      await gone.close();
      const err = await kubeError(createTokenReviewer(kc).review('t', ['a']));
      expect(err).toMatchObject({ code: 'ERR_KUBE_UNREACHABLE', status: 0, reason: 'Unreachable' });
    });

    it('gives up after the deadline on a server that never answers (ERR_KUBE_TIMEOUT)', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((s) => sockets.add(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      try {
        const port = (silent.address() as net.AddressInfo).port;
        const kubeconfigPath = path.join(dir, 'silent');
        writeFileSync(kubeconfigPath, kubeconfigYaml(`https://127.0.0.1:${port}`, fake.caPem, 'u', 't'));
        const err = await kubeError(createTokenReviewer(loadKubeConfig({ kubeconfigPath }), { timeoutMs: 200 }).review('t', ['a']));
        expect(err).toMatchObject({ code: 'ERR_KUBE_TIMEOUT', reason: 'Timeout' });
        expect(err.message).toBe('create TokenReview: no answer from the Kubernetes API in time');
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });
  });
});
