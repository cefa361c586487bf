import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { CsrManager } from '../../../src/certs/csr-manager.js';
import { agentProfile } from '../../../src/certs/csr-profiles.js';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { TunnelCa } from '../../../src/certs/tunnel-ca.js';
import { createSecretStore } from '../../../src/kube/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { tempDir, until } from './helpers.js';
import { bootstrapClient, requesterFor, signerFor } from './kube-setup.js';

const certs = (pem: string): X509Certificate[] => pem.split(/(?<=-----END CERTIFICATE-----\n)/).filter((p) => p.trim()).map((p) => new X509Certificate(p));

describe('the tunnel CA Secret', () => {
  let fake: FakeKube;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    fake = await startFakeKube();
  });
  afterAll(() => fake.close());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function issueAgent(cluster: string, caPem: string): Promise<X509Certificate> {
    const t = tempDir('ca');
    cleanups.push(t.remove);
    const m = new CsrManager({ ...agentProfile(cluster), certDir: t.dir, caPem, requester: requesterFor(bootstrapClient(fake, cluster)), logger: silentLogger() });
    cleanups.push(() => m.close());
    return new X509Certificate((await m.start()).certPem);
  }

  it('two signer controllers started together agree on one CA', async () => {
    fake.clearRequests();
    const a = signerFor(fake, { caSecretName: 'ca-race' });
    const b = signerFor(fake, { caSecretName: 'ca-race' });
    cleanups.push(() => a.stop(), () => b.stop());
    await Promise.all([a.start(), b.start()]);
    const [ma, mb] = await Promise.all([a.ca.load(), b.ca.load()]);
    expect(ma.active.certPem).toBe(mb.active.certPem);
    const creates = fake.requests.filter((r) => r.resource === 'secrets' && r.verb === 'create' && r.path.endsWith('/secrets'));
    expect(creates.filter((r) => r.code === 201)).toHaveLength(1);
    // Both read before writing (they started together), so the loser got 409 AlreadyExists and took the winner's CA.
    expect(creates.map((r) => r.code).sort()).toEqual([201, 409]);
    const ca = new X509Certificate(ma.active.certPem);
    // Whichever replica signs, the agent certificate chains to that one CA.
    const leaf = await issueAgent('race', ma.bundlePem);
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
  });

  it.each([
    ['a certificate that is not PEM', (d: Record<string, string>) => ({ ...d, 'tls.crt': 'hello' }), /data\[tls\.crt\]: not well-formed PEM|data\[tls\.crt\]: no CERTIFICATE block/],
    ['a key that does not match the certificate', (d: Record<string, string>, other: string) => ({ ...d, 'tls.key': other }), /data\[tls\.crt\]: the key does not match the certificate/],
    ['a missing bundle', (d: Record<string, string>) => ({ 'tls.crt': d['tls.crt']!, 'tls.key': d['tls.key']! }), /data\[ca-bundle\.crt\] missing/],
  ])('a CA Secret edited by hand into %s is a clear error, never a silent new CA', async (_what, edit, message) => {
    const name = `ca-edited-${Math.random().toString(36).slice(2, 8)}`;
    const good = signerFor(fake, { caSecretName: name });
    await good.start();
    await good.stop();
    const secret = fake.store.mustGet('secrets', 'kube-system', name);
    const decoded = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    const other = (await DevCA.create('someone else')).keyPem;
    const data = edit(decoded, other);
    fake.store.update('secrets', { ...secret, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
    const before = fake.store.mustGet('secrets', 'kube-system', name);

    const again = signerFor(fake, { caSecretName: name });
    const err = await again.start().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    await again.stop();
    expect(err?.code).toBe('ERR_CA_SECRET_INVALID');
    expect(err?.message).toMatch(new RegExp(`^CA Secret kube-system/${name} is not a usable CA \\(`));
    expect(err?.message).toMatch(message);
    expect(err?.message).toContain('it is never replaced automatically');
    expect(fake.store.mustGet('secrets', 'kube-system', name).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('rotation: a new CA joins the bundle before it signs anything, then signs, then the old one can be pruned', async () => {
    const signer = signerFor(fake, { caSecretName: 'ca-rotation' });
    cleanups.push(() => signer.stop());
    await signer.start();
    const ca = signer.ca;
    const old = new X509Certificate((await ca.load()).active.certPem);

    const staged = await ca.stageRotation();
    expect(staged.next).toBeDefined();
    const next = new X509Certificate(staged.next!.certPem);
    expect(certs(staged.bundlePem).map((c) => c.serialNumber)).toEqual([old.serialNumber, next.serialNumber]);
    expect((await ca.stageRotation()).next!.certPem).toBe(staged.next!.certPem); // idempotent while staged
    const beforePromotion = await issueAgent('rot1', staged.bundlePem);
    expect(beforePromotion.checkIssued(old)).toBe(true);
    expect(beforePromotion.checkIssued(next)).toBe(false);

    const promoted = await ca.promoteRotation();
    expect(promoted.next).toBeUndefined();
    expect(promoted.active.certPem).toBe(staged.next!.certPem);
    expect(certs(promoted.bundlePem)).toHaveLength(2);
    const afterPromotion = await issueAgent('rot2', promoted.bundlePem);
    expect(afterPromotion.checkIssued(next) && afterPromotion.verify(next.publicKey)).toBe(true);
    await expect(ca.promoteRotation()).rejects.toMatchObject({ code: 'ERR_CERT_CONFIG' });

    expect(certs((await ca.pruneBundle()).bundlePem)).toHaveLength(2); // the old CA has not expired: kept by default
    const pruned = await ca.pruneBundle(() => false);
    expect(certs(pruned.bundlePem).map((c) => c.serialNumber)).toEqual([next.serialNumber]);
  });

  it('a CA Secret broken while the signer runs: CSRs wait (error logged and counted), and are signed once it is fixed', async () => {
    const registry = new Registry();
    const signer = signerFor(fake, { caSecretName: 'ca-broken-live', registry });
    cleanups.push(() => signer.stop());
    await signer.start();
    const good = fake.store.mustGet('secrets', 'kube-system', 'ca-broken-live');
    const goodData = good.data as Record<string, string>;
    const other = Buffer.from((await DevCA.create('other')).keyPem).toString('base64');
    fake.store.update('secrets', { ...good, data: { ...goodData, 'tls.key': other } });

    const t = tempDir('broken');
    cleanups.push(t.remove);
    const m = new CsrManager({ ...agentProfile('live'), certDir: t.dir, requester: requesterFor(bootstrapClient(fake, 'live')), logger: silentLogger() });
    cleanups.push(() => m.close());
    const started = m.start();
    await until(() => /not a usable CA/.test(signer.lastError() ?? ''));
    expect(signer.lastError()).toContain('CA Secret kube-system/ca-broken-live is not a usable CA (data[tls.crt]: the key does not match the certificate');
    expect(await registry.metrics()).toMatch(/tunnel_signer_errors_total\{reason="ERR_CA_SECRET_INVALID"\} [1-9]/);

    const broken = fake.store.mustGet('secrets', 'kube-system', 'ca-broken-live');
    fake.store.update('secrets', { ...broken, data: goodData });
    const bundle = await started;
    const ca = new X509Certificate(Buffer.from(goodData['tls.crt']!, 'base64').toString());
    expect(new X509Certificate(bundle.certPem).checkIssued(ca)).toBe(true);
  });

  it('TunnelCa.load says so when the Secret does not exist', async () => {
    const ca = new TunnelCa({ secrets: createSecretStore(fake.kubeConfig()), logger: silentLogger(), name: 'never-created' });
    await expect(ca.load()).rejects.toMatchObject({ code: 'ERR_CA_SECRET_INVALID', message: 'CA Secret kube-system/never-created does not exist' });
  });
});
