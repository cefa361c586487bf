import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CertificatesV1Api, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import { createCsrPem } from '../../../src/certs/csr-request.js';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { generateKey } from '../../../src/certs/key-pair.js';
import { createCsrClient, csrOutcome, KubeError, waitForCsr, type CsrClient } from '../../../src/kube/index.js';
import { apiFailure, startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { until } from './helpers.js';

const SIGNER = 'tunnel.tkestack.io/agent';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function requestPem(cn = 'tunnel-agent:c1'): Promise<string> {
  const k = await generateKey();
  return createCsrPem({ subject: { commonName: cn }, keys: k.keys, algorithm: k.algorithm });
}

/** The KubeError a facade call failed with, as the API's code and message. */
async function kubeFailure(call: Promise<unknown>): Promise<{ code: number; status?: { message?: string } }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof KubeError)) throw new Error(`expected a KubeError, got ${String(err)}`);
  return { code: err.status, status: { message: err.message } };
}


function body(name: string, spec: Record<string, unknown>): V1CertificateSigningRequest {
  return { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name }, spec: spec as never };
}

describe('fake Kubernetes API: CertificateSigningRequests', () => {
  let fake: FakeKube;
  let api: CertificatesV1Api;
  let csrs: CsrClient;
  let pem: string;
  let ca: DevCA;

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['tunnel'] });
    api = fake.kubeConfig().makeApiClient(CertificatesV1Api);
    csrs = createCsrClient(fake.kubeConfig());
    pem = await requestPem();
    ca = await DevCA.create('csr test CA');
  });
  afterAll(() => fake.close());

  const valid = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    signerName: SIGNER,
    request: b64(pem),
    usages: ['digital signature', 'client auth'],
    ...extra,
  });

  it('records the requester from the authenticated user, never from the body, and drops a sent status', async () => {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'tunnel', name: 'tunnel-bootstrap-c1' } });
    const token = fake.issueToken('tunnel', 'tunnel-bootstrap-c1');
    const asAgent = fake.kubeConfigForToken(token).makeApiClient(CertificatesV1Api);
    const created = await asAgent.createCertificateSigningRequest({
      body: {
        ...body('forged-requester', valid({ username: 'system:admin', groups: ['system:masters'] })),
        status: { conditions: [{ type: 'Approved', status: 'True' }] } as never,
      },
    });
    expect(created.spec.username).toBe('system:serviceaccount:tunnel:tunnel-bootstrap-c1');
    expect(created.spec.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:tunnel', 'system:authenticated']);
    expect(created.status?.conditions).toBeUndefined();
  });

  it.each([
    ['a missing signerName', () => valid({ signerName: undefined }), 'spec.signerName: Required value'],
    ['a malformed request PEM', () => valid({ request: b64('-----BEGIN CERTIFICATE REQUEST-----\nAAAA') }), 'PEM block type must be CERTIFICATE REQUEST'],
    [
      'a request that is not PKCS#10',
      () => valid({ request: b64('-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n') }),
      'x509: malformed certificate request',
    ],
    ['an unknown usage', () => valid({ usages: ['client auth', 'root access'] }), 'spec.usages[1]: Unsupported value: "root access"'],
    ['a duplicate usage', () => valid({ usages: ['client auth', 'client auth'] }), 'spec.usages[1]: Duplicate value: "client auth"'],
    [
      'expirationSeconds under 600',
      () => valid({ expirationSeconds: 599 }),
      'spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)',
    ],
  ])('refuses %s with 422', async (_what, spec, message) => {
    const bad = await apiFailure(api.createCertificateSigningRequest({ body: body('bad', spec()) }));
    expect(bad.code).toBe(422);
    expect(bad.status?.reason).toBe('Invalid');
    expect(bad.status?.message).toContain(message);
  });

  it('refuses a certificate PEM where a request belongs', async () => {
    const bad = await apiFailure(api.createCertificateSigningRequest({ body: body('cert-not-csr', valid({ request: b64(ca.certPem) })) }));
    expect(bad.code).toBe(422);
    expect(bad.status?.message).toContain('PEM block type must be CERTIFICATE REQUEST');
  });

  it('approval: conditions only, no duplicates, Approved and Denied never together, never removed', async () => {
    const created = await csrs.create({ name: 'approve-me', signerName: SIGNER, request: pem, usages: ['client auth'] });
    const raw = await api.readCertificateSigningRequest({ name: created.name });
    const dup = await apiFailure(
      api.replaceCertificateSigningRequestApproval({
        name: created.name,
        body: { ...raw, status: { conditions: [{ type: 'Approved', status: 'True' }, { type: 'Approved', status: 'True' }] } },
      }),
    );
    expect(dup.code).toBe(422);
    expect(dup.status?.message).toContain('status.conditions[1].type: Duplicate value: "Approved"');
    const both = await apiFailure(
      api.replaceCertificateSigningRequestApproval({
        name: created.name,
        body: { ...raw, status: { conditions: [{ type: 'Approved', status: 'True' }, { type: 'Denied', status: 'True' }] } },
      }),
    );
    expect(both.status?.message).toContain('Approved and Denied conditions are mutually exclusive');

    const approved = await csrs.setApproval(created, { type: 'Approved', reason: 'Test', message: 'ok' });
    expect(approved.conditions).toEqual([expect.objectContaining({ type: 'Approved', status: 'True', reason: 'Test', lastUpdateTime: expect.any(Date) })]);
    const removed = await apiFailure(
      api.replaceCertificateSigningRequestApproval({ name: created.name, body: { ...(await api.readCertificateSigningRequest({ name: created.name })), status: {} } }),
    );
    expect(removed.code).toBe(422);
    expect(removed.status?.message).toContain('updates may not remove a condition of type "Approved"');
    const deny = await kubeFailure(csrs.setApproval(approved, { type: 'Denied', reason: 'Test', message: 'no' }));
    expect(deny.code).toBe(422);
  });

  it('status: the certificate only once approved, never changed; Failed kept beside Approved; stale writes conflict', async () => {
    const created = await csrs.create({ name: 'issue-me', signerName: SIGNER, request: pem, usages: ['client auth'] });
    const leaf = (await ca.issue({ commonName: 'x', usage: 'client' })).cert;
    const early = await kubeFailure(csrs.setCertificate(created, leaf));
    expect(early.code).toBe(422);
    expect(early.status?.message).toContain('status.certificate: Forbidden: may only be set once the request has the Approved condition');

    const approved = await csrs.setApproval(created, { type: 'Approved', reason: 'Test', message: 'ok' });
    expect((await kubeFailure(csrs.setCertificate(created, leaf))).code).toBe(409);
    const garbage = await kubeFailure(csrs.setCertificate(approved, 'not a certificate'));
    expect(garbage.status?.message).toContain('must contain at least one CERTIFICATE PEM block');
    const issued = await csrs.setCertificate(approved, leaf);
    expect(issued.certificate).toBe(leaf);
    expect(csrOutcome(issued)).toBe('issued');
    const other = (await ca.issue({ commonName: 'y', usage: 'client' })).cert;
    const change = await kubeFailure(csrs.setCertificate(issued, other));
    expect(change.status?.message).toContain('updates may not modify existing certificate content');

    // /status cannot drop Approved; the main resource changes neither spec nor status.
    const failed = await csrs.setFailed({ ...issued, conditions: [] }, 'Test', 'broken');
    expect(failed.conditions.map((c) => c.type).sort()).toEqual(['Approved', 'Failed']);
    const raw = await api.readCertificateSigningRequest({ name: 'issue-me' });
    const replaced = await api.replaceCertificateSigningRequest({
      name: 'issue-me',
      body: { ...raw, metadata: { ...raw.metadata, labels: { a: 'b' } }, spec: { ...raw.spec, signerName: 'example.com/other' }, status: {} },
    });
    expect(replaced.metadata?.labels).toEqual({ a: 'b' });
    expect(replaced.spec.signerName).toBe(SIGNER);
    expect(replaced.status?.certificate).toBe(b64(leaf));
  });

  it('CsrClient: get of a missing CSR is undefined; waitForCsr sees an issue through the watch, and a deletion', async () => {
    expect(await csrs.get('nope')).toBeUndefined();
    const created = await csrs.create({ generateName: 'wait-', signerName: SIGNER, request: pem, usages: ['client auth'], expirationSeconds: 600 });
    expect(created.name).toMatch(/^wait-/);
    expect(created.expirationSeconds).toBe(600);
    const waiting = waitForCsr(csrs, created.name, { timeoutMs: 10_000, pollIntervalMs: 60_000 });
    const approved = await csrs.setApproval(created, { type: 'Approved', reason: 'Test', message: 'ok' });
    await csrs.setCertificate(approved, (await ca.issue({ commonName: 'z', usage: 'client' })).cert);
    const done = await waiting;
    expect(done.outcome).toBe('issued');

    const pending = await csrs.create({ generateName: 'gone-', signerName: SIGNER, request: pem, usages: ['client auth'] });
    const waitGone = waitForCsr(csrs, pending.name, { timeoutMs: 10_000, pollIntervalMs: 60_000 });
    await new Promise((r) => setImmediate(r));
    expect(await csrs.delete(pending.name)).toBe(true);
    await expect(waitGone).rejects.toMatchObject({ reason: 'NotFound' });
    expect(await csrs.delete(pending.name)).toBe(false);

    const slow = await csrs.create({ generateName: 'slow-', signerName: SIGNER, request: pem, usages: ['client auth'] });
    const late = await waitForCsr(csrs, slow.name, { timeoutMs: 200, pollIntervalMs: 50 });
    expect(late.outcome).toBe('pending');
    await until(() => fake.activeWatches() === 0);
  });
});
