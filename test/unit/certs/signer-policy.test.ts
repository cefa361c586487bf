import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { createCsrPem } from '../../../src/certs/csr-request.js';
import { generateKey, type KeyAlgorithm } from '../../../src/certs/key-pair.js';
import type { SignerController } from '../../../src/certs/signer-controller.js';
import { subtle, type CryptoKeyPair } from '../../../src/certs/x509.js';
import { createCsrClient, waitForCsr, type CsrClient, type CsrRecord } from '../../../src/kube/index.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { bootstrapClient, requesterFor, serverClient, signerFor } from './kube-setup.js';

const AGENT = 'tunnel.tkestack.io/agent';
const SERVER = 'tunnel.tkestack.io/server';
const GROUP = 'tunnel.tkestack.io:agents';

interface Ask {
  cn: string;
  orgs?: string[];
  usages?: string[];
  signer?: string;
  dnsNames?: string[];
  key?: KeyAlgorithm | 'RSA-1024';
}

async function pemFor(a: Ask): Promise<string> {
  if (a.key === 'RSA-1024') {
    const keys = (await subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    return createCsrPem({ subject: { commonName: a.cn, organizations: a.orgs ?? [GROUP] }, keys, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } });
  }
  const k = await generateKey(a.key ?? 'ECDSA-P256');
  return createCsrPem({
    subject: { commonName: a.cn, organizations: a.orgs ?? [GROUP] },
    ...(a.dnsNames ? { dnsNames: a.dnsNames } : {}),
    keys: k.keys,
    algorithm: k.algorithm,
  });
}

async function submit(client: CsrClient, a: Ask): Promise<CsrRecord> {
  const created = await client.create({
    generateName: 'policy-',
    signerName: a.signer ?? AGENT,
    request: await pemFor(a),
    usages: a.usages ?? ['digital signature', 'client auth'],
  });
  return (await waitForCsr(client, created.name, { timeoutMs: 10_000, pollIntervalMs: 200 })).csr;
}

describe('the signer/approver controller decides CSRs by policy', () => {
  let fake: FakeKube;
  let signer: SignerController;
  let registry: Registry;
  beforeAll(async () => {
    fake = await startFakeKube();
    registry = new Registry();
    signer = signerFor(fake, { registry });
    await signer.start();
  });
  afterAll(async () => {
    await signer.stop();
    await fake.close();
  });

  it('approves and signs a well-formed agent CSR from its cluster bootstrap account (RSA 2048 and ECDSA P-384 too)', async () => {
    for (const key of ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'] as const) {
      const csr = await submit(bootstrapClient(fake, 'ok'), { cn: 'tunnel-agent:ok', key });
      expect(csr.conditions.map((c) => c.type)).toEqual(['Approved']);
      expect(csr.certificate).toContain('BEGIN CERTIFICATE');
    }
  });

  it.each<[string, () => Promise<CsrRecord>, string]>([
    [
      'a CN for another cluster',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:b' }),
      'rule common-name: CN ["tunnel-agent:b"] does not match the requester\'s cluster "a": the only CN allowed is "tunnel-agent:a"',
    ],
    [
      'the system:masters organisation (even beside the agent group)',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:a', orgs: [GROUP, 'system:masters'] }),
      'rule organization: organisation "system:masters" is never allowed',
    ],
    [
      'another organisation than the agent group',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:a', orgs: ['admins'] }),
      'rule organization: agent certificates carry exactly the organisations ["tunnel.tkestack.io:agents"], got ["admins"]',
    ],
    [
      'server auth on an agent certificate',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:a', usages: ['digital signature', 'client auth', 'server auth'] }),
      'rule usages: agent certificates may not have usage "server auth"',
    ],
    [
      'an RSA-1024 key',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:a', key: 'RSA-1024' }),
      'rule key: an RSA key of 1024 bits is too weak (at least 2048)',
    ],
    [
      'a SAN on an agent certificate',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-agent:a', dnsNames: ['kubernetes.default'] }),
      'rule sans: ["DNS:kubernetes.default"] not allowed on agent certificates (allowed: none)',
    ],
    [
      'a requester that is not the bootstrap account of that cluster',
      () => {
        fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: 'someone' } });
        return submit(createCsrClient(fake.kubeConfigForToken(fake.issueToken('kube-system', 'someone'))), { cn: 'tunnel-agent:a' });
      },
      'rule requester: "system:serviceaccount:kube-system:someone" is not the bootstrap ServiceAccount of any cluster',
    ],
    [
      'a server certificate asked by an agent bootstrap account',
      () => submit(bootstrapClient(fake, 'a'), { cn: 'tunnel-server', orgs: [], signer: SERVER, usages: ['digital signature', 'server auth'] }),
      'rule requester: "system:serviceaccount:kube-system:tunnel-bootstrap-a" may not request server certificates',
    ],
    [
      'a server certificate for a name the policy does not allow',
      () => submit(serverClient(fake), { cn: 'tunnel-server', orgs: [], signer: SERVER, usages: ['digital signature', 'server auth'], dnsNames: ['evil.example'] }),
      'rule sans: ["DNS:evil.example"] not allowed on server certificates (allowed: ["DNS:localhost", "IP:127.0.0.1"])',
    ],
  ])('denies %s, with reason TunnelPolicy and the broken rule', async (_what, run, message) => {
    const csr = await run();
    expect(csr.certificate).toBeUndefined();
    expect(csr.conditions).toEqual([expect.objectContaining({ type: 'Denied', status: 'True', reason: 'TunnelPolicy', message: expect.stringContaining(message) })]);
  });

  it('the manager sees a denial as a clear error with the reason', async () => {
    const requester = requesterFor(bootstrapClient(fake, 'a'));
    const k = await generateKey();
    const csrPem = await createCsrPem({ subject: { commonName: 'tunnel-agent:a', organizations: ['system:masters'] }, keys: k.keys, algorithm: k.algorithm });
    await expect(requester({ csrPem, signerName: AGENT, usages: ['client auth'], namePrefix: 'denied-' })).rejects.toMatchObject({
      code: 'ERR_CSR_DENIED',
      message: expect.stringMatching(/certificate signing request denied-\w+ was denied \(TunnelPolicy: rule organization: organisation "system:masters" is never allowed\)/),
    });
  });

  it('refuses to sign a forged CSR someone else approved: marked Failed, no certificate', async () => {
    const admin = createCsrClient(fake.kubeConfig());
    const pem = await pemFor({ cn: 'tunnel-agent:a', orgs: ['system:masters'] });
    // Created and approved by hand in one go (straight through the store), before the controller looks at it.
    const spec = { signerName: AGENT, request: Buffer.from(pem).toString('base64'), usages: ['client auth'] };
    const stored = fake.store.create('certificatesigningrequests', { metadata: { name: 'hand-approved' }, spec });
    fake.store.update(
      'certificatesigningrequests',
      { ...stored, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Manual', message: 'looks fine to me' }] } },
      { subresource: 'approval', name: 'hand-approved' },
    );
    const done = (await waitForCsr(admin, 'hand-approved', { timeoutMs: 10_000, pollIntervalMs: 200 })).csr;
    expect(done.certificate).toBeUndefined();
    expect(done.conditions.map((c) => c.type)).toEqual(['Approved', 'Failed']);
    expect(done.conditions[1]).toMatchObject({ reason: 'TunnelPolicy', message: 'rule organization: organisation "system:masters" is never allowed' });
  });

  it('leaves CSRs of other signers alone, and counts its decisions', async () => {
    const admin = createCsrClient(fake.kubeConfig());
    await admin.create({ name: 'not-ours', signerName: 'kubernetes.io/kube-apiserver-client', request: await pemFor({ cn: 'x', orgs: [] }), usages: ['client auth'] });
    await admin.create({ name: 'marker', signerName: AGENT, request: await pemFor({ cn: 'nobody' }), usages: ['client auth'] });
    await waitForCsr(admin, 'marker', { timeoutMs: 10_000, pollIntervalMs: 200 });
    await signer.idle();
    expect((await admin.get('not-ours'))!.conditions).toEqual([]);
    const text = await registry.metrics();
    expect(text).toMatch(/tunnel_csr_decisions_total\{signer="tunnel.tkestack.io\/agent",decision="denied",rule="organization"\} [1-9]/);
    expect(text).toMatch(/tunnel_csr_issued_total\{signer="tunnel.tkestack.io\/agent"\} 3/);
  });
});
