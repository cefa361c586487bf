import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { apiFailure, DEFAULT_API_AUDIENCES, startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';

const AUDIENCE = 'system:konnectivity-server';

describe('fake Kubernetes API: tokens, TokenReview, authentication and authorization', () => {
  let fake: FakeKube;
  let core: CoreV1Api;
  let auth: AuthenticationV1Api;
  let clock = new Date('2025-03-01T00:00:00Z');

  beforeAll(async () => {
    fake = await startFakeKube({ now: () => clock });
    core = fake.kubeConfig().makeApiClient(CoreV1Api);
    auth = fake.kubeConfig().makeApiClient(AuthenticationV1Api);
    await core.createNamespacedServiceAccount({ namespace: 'kube-system', body: { metadata: { name: 'konnectivity-agent' } } });
  });
  afterAll(() => fake.close());

  const review = (token: string, audiences?: string[]) =>
    auth.createTokenReview({ body: { spec: { token, ...(audiences ? { audiences } : {}) } } });

  it('issues a token with TokenRequest that TokenReview recognises for its audience', async () => {
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'konnectivity-agent',
      namespace: 'kube-system',
      body: { spec: { audiences: [AUDIENCE], expirationSeconds: 3600 } },
    });
    expect(tr.kind).toBe('TokenRequest');
    expect(tr.spec.audiences).toEqual([AUDIENCE]);
    expect(tr.status?.expirationTimestamp?.toISOString()).toBe('2025-03-01T01:00:00.000Z');
    const token = tr.status!.token;

    const ok = await review(token, [AUDIENCE]);
    expect(ok.status?.authenticated).toBe(true);
    expect(ok.status?.user?.username).toBe('system:serviceaccount:kube-system:konnectivity-agent');
    expect(ok.status?.user?.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']);
    expect(ok.status?.audiences).toEqual([AUDIENCE]);
    expect(ok.status?.error).toBeUndefined();

    const wrong = await review(token, ['other-audience']);
    expect(wrong.status?.authenticated).toBeUndefined();
    expect(wrong.status?.error).toContain(`token audiences ["${AUDIENCE}"] is invalid for the target audiences ["other-audience"]`);

    const noAudience = await review(token);
    expect(noAudience.status?.authenticated).toBeUndefined();
    expect(noAudience.status?.error).toContain('is invalid for the target audiences');
  });

  it('defaults the audiences of a TokenRequest to the API, so the token also works as a bearer token', async () => {
    const tr = await core.createNamespacedServiceAccountToken({ name: 'konnectivity-agent', namespace: 'kube-system', body: { spec: { audiences: [] } } });
    expect(tr.spec.audiences).toEqual(DEFAULT_API_AUDIENCES);
    const asAgent = fake.kubeConfigForToken(tr.status!.token).makeApiClient(CoreV1Api);
    const list = await asAgent.listNamespacedSecret({ namespace: 'kube-system' });
    expect(list.items).toEqual([]);
    expect(fake.requests.at(-1)?.user).toBe('system:serviceaccount:kube-system:konnectivity-agent');
  });

  it('stops recognising a token when it expires or its ServiceAccount is deleted', async () => {
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'short' } } });
    const token = fake.issueToken('default', 'short', { audiences: [AUDIENCE], expirationSeconds: 600 });
    expect((await review(token, [AUDIENCE])).status?.authenticated).toBe(true);
    const saved = clock;
    clock = new Date(saved.getTime() + 601_000);
    try {
      expect((await review(token, [AUDIENCE])).status?.error).toContain('service account token has expired');
    } finally {
      clock = saved;
    }
    await core.deleteNamespacedServiceAccount({ name: 'short', namespace: 'default' });
    expect((await review(token, [AUDIENCE])).status?.error).toContain('has been deleted');
  });

  it('reports an unknown token as not authenticated', async () => {
    const r = await review('garbage', [AUDIENCE]);
    expect(r.status?.authenticated).toBeUndefined();
    expect(r.status?.user).toEqual({});
  });

  it('answers 404 to a TokenRequest for a missing ServiceAccount and 422 to a too short lifetime', async () => {
    const missing = await apiFailure(core.createNamespacedServiceAccountToken({ name: 'ghost', namespace: 'default', body: { spec: { audiences: [] } } }));
    expect(missing.code).toBe(404);
    expect(missing.status?.message).toBe('serviceaccounts "ghost" not found');
    const short = await apiFailure(
      core.createNamespacedServiceAccountToken({ name: 'konnectivity-agent', namespace: 'kube-system', body: { spec: { audiences: [], expirationSeconds: 60 } } }),
    );
    expect(short.code).toBe(422);
    expect(short.status?.message).toContain('spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes');
  });

  it('answers 401 Unauthorized to an unknown bearer token', async () => {
    const stranger = fake.kubeConfigForToken('not-a-known-token').makeApiClient(CoreV1Api);
    const { code } = await apiFailure(stranger.listNamespacedSecret({ namespace: 'default' }));
    expect(code).toBe(401);
    const rec = fake.requests.at(-1)!;
    expect(rec.code).toBe(401);
    expect(rec.user).toBeUndefined();
  });

  it('answers 403 Forbidden with the API wording when a rule does not allow the request', async () => {
    fake.addUser({ name: 'bob', token: 'bob-token', groups: ['tunnel-readers'] });
    fake.allow('bob', ['get', 'list'], 'secrets', 'default');
    const bob = fake.kubeConfig('bob').makeApiClient(CoreV1Api);
    fake.store.create('secrets', { metadata: { name: 'readable', namespace: 'default' } });
    fake.store.create('secrets', { metadata: { name: 'hidden', namespace: 'kube-system' } });

    expect((await bob.readNamespacedSecret({ name: 'readable', namespace: 'default' })).metadata?.name).toBe('readable');
    const get = await apiFailure(bob.readNamespacedSecret({ name: 'hidden', namespace: 'kube-system' }));
    expect(get.code).toBe(403);
    expect(get.status?.reason).toBe('Forbidden');
    expect(get.status?.message).toBe(
      'secrets "hidden" is forbidden: User "bob" cannot get resource "secrets" in API group "" in the namespace "kube-system"',
    );
    const del = await apiFailure(bob.deleteNamespacedSecret({ name: 'readable', namespace: 'default' }));
    expect(del.code).toBe(403);
    const token = await apiFailure(
      bob.createNamespacedServiceAccountToken({ name: 'konnectivity-agent', namespace: 'kube-system', body: { spec: { audiences: [] } } }),
    );
    expect(token.status?.message).toContain('cannot create resource "serviceaccounts/token" in API group "" in the namespace "kube-system"');
  });

  it('lets a test inject a fault for matching requests', async () => {
    const undo = fake.intercept((r) => (r.resource === 'tokenreviews' ? { code: 503, reason: 'ServiceUnavailable', message: 'etcd is down' } : undefined));
    try {
      const { code, status } = await apiFailure(review('x', [AUDIENCE]));
      expect(code).toBe(503);
      expect(status?.message).toBe('etcd is down');
    } finally {
      undo();
    }
    expect((await review('x', [AUDIENCE])).status?.authenticated).toBeUndefined();
  });

  it('refuses methods a kind does not serve (GET on tokenreviews)', async () => {
    const res = await fetchWithToken(fake, '/apis/authentication.k8s.io/v1/tokenreviews');
    expect(res.status).toBe(405);
  });
});

/** A raw HTTPS GET with the admin token (for requests the typed client cannot make). */
async function fetchWithToken(fake: FakeKube, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${fake.url}${path}`,
      { ca: fake.caPem, headers: { authorization: `Bearer ${fake.adminToken}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
