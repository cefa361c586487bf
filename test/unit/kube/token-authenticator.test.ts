import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createTokenReviewer, loadKubeConfig, type TokenReviewer } from '../../../src/kube/index.js';
import {
  AgentAuthUnavailableError,
  createTokenAuthenticator,
  type TokenAuthenticatorOptions,
} from '../../../src/server/auth/token-authenticator.js';
import { AgentAuthError, type AgentAuthContext } from '../../../src/server/auth/types.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';

const AUDIENCE = 'system:konnectivity-server';
const EXPECTED = 'system:serviceaccount:kube-system:konnectivity-agent';

/** A winston logger whose lines land in `lines`. */
function capturingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

const ctx = (authorization: string[]): AgentAuthContext => ({ agentID: 'agent-1', identifiers: 'host=c1', authorization, peer: '127.0.0.1:5555' });

/** The refusal of a Connect (fails the test if it was accepted). */
async function refusal(p: Promise<unknown>): Promise<AgentAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AgentAuthError)) throw new Error(`expected an AgentAuthError, got ${String(err)}`);
  return err;
}

describe('token authenticator against the fake Kubernetes API', () => {
  let fake: FakeKube;
  let reviewer: TokenReviewer;
  let good: string;
  const log = capturingLogger();
  const tokenReviews = (): number => fake.requests.filter((r) => r.resource === 'tokenreviews').length;

  const authenticator = (over: Partial<TokenAuthenticatorOptions> = {}) =>
    createTokenAuthenticator({
      namespace: 'kube-system',
      serviceAccount: 'konnectivity-agent',
      audience: AUDIENCE,
      reviewer,
      logger: log.logger,
      ...over,
    });

  beforeAll(async () => {
    fake = await startFakeKube({ namespaces: ['tenant-a'] });
    for (const [namespace, name] of [
      ['kube-system', 'konnectivity-agent'],
      ['kube-system', 'other'],
      ['tenant-a', 'konnectivity-agent'],
    ] as const) {
      fake.store.create('serviceaccounts', { metadata: { namespace, name } });
    }
    reviewer = createTokenReviewer(loadKubeConfig({ kubeconfigPath: fake.kubeconfigPath }));
    good = fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [AUDIENCE] });
  });
  afterAll(() => fake.close());

  it('accepts the agent ServiceAccount token for the audience, with the user as identity', async () => {
    const id = await authenticator().authenticate(ctx([`Bearer ${good}`]));
    expect(id).toEqual({ subject: EXPECTED, method: 'token' });
    const review = fake.requests.filter((r) => r.resource === 'tokenreviews').at(-1);
    expect(review).toMatchObject({ verb: 'create', code: 201, user: 'admin' });
  });

  it('refuses a token issued for another audience, saying so', async () => {
    const token = fake.issueToken('kube-system', 'konnectivity-agent', { audiences: ['https://kubernetes.default.svc.cluster.local'] });
    const err = await refusal(authenticator().authenticate(ctx([`Bearer ${token}`])));
    expect(err.code).toBe('ERR_AGENT_UNAUTHENTICATED');
    expect(err.message).toContain(`token not valid for audience ${AUDIENCE}`);
    expect(err.message).toContain('is invalid for the target audiences');
  });

  it('refuses a token of another ServiceAccount or another namespace, naming both users', async () => {
    const otherSa = fake.issueToken('kube-system', 'other', { audiences: [AUDIENCE] });
    const a = await refusal(authenticator().authenticate(ctx([`Bearer ${otherSa}`])));
    expect(a.code).toBe('ERR_AGENT_FORBIDDEN');
    expect(a.message).toBe(`token is for system:serviceaccount:kube-system:other, expected ${EXPECTED}`);

    const otherNs = fake.issueToken('tenant-a', 'konnectivity-agent', { audiences: [AUDIENCE] });
    const b = await refusal(authenticator().authenticate(ctx([`Bearer ${otherNs}`])));
    expect(b.message).toBe(`token is for system:serviceaccount:tenant-a:konnectivity-agent, expected ${EXPECTED}`);
  });

  it('refuses a garbage token', async () => {
    const err = await refusal(authenticator().authenticate(ctx(['Bearer not-a-token'])));
    expect(err.code).toBe('ERR_AGENT_UNAUTHENTICATED');
    expect(err.message).toBe(`token not valid for audience ${AUDIENCE}: not authenticated (unknown, expired or revoked token)`);
  });

  it.each([
    [[], 'missing "authorization" metadata'],
    [[`Bearer ${'a'.repeat(10)}`, 'Bearer b'], 'got 2 "authorization" metadata values'],
    [['Basic dXNlcjpwYXNz'], 'is not a Bearer token'],
    [['bearer lower-case-scheme'], 'is not a Bearer token'],
    [['Bearer '], 'is empty'],
  ])('refuses authorization %j without asking the API', async (values, text) => {
    const before = tokenReviews();
    const err = await refusal(authenticator().authenticate(ctx(values)));
    expect(err.code).toBe('ERR_AGENT_UNAUTHENTICATED');
    expect(err.message).toContain(text);
    expect(tokenReviews()).toBe(before);
  });

  it('refuses, without crashing, when the API cannot be reached, and never caches that', async () => {
    const down = await startFakeKube();
    const kubeconfigPath = down.writeKubeconfig({ user: 'admin' });
    const kc = loadKubeConfig({ kubeconfigPath });
    await down.close();
    const auth = authenticator({ reviewer: createTokenReviewer(kc) });
    const err = await refusal(auth.authenticate(ctx([`Bearer ${good}`])));
    expect(err).toBeInstanceOf(AgentAuthUnavailableError);
    expect(err.code).toBe('ERR_AGENT_UNAUTHENTICATED');
    expect(err.message).toBe('could not verify the token: the TokenReview to the Kubernetes API failed; try again later');
    expect(err.message).not.toContain(down.url);
    expect(log.lines.some((l) => l.includes('TokenReview failed') && l.includes('ECONNREFUSED'))).toBe(true);

    const undo = fake.intercept((r) => (r.resource === 'tokenreviews' ? { code: 503, reason: 'ServiceUnavailable', message: 'etcd is down' } : undefined));
    const flaky = authenticator();
    try {
      const e503 = await refusal(flaky.authenticate(ctx([`Bearer ${good}`])));
      expect(e503).toBeInstanceOf(AgentAuthUnavailableError);
      expect(log.lines.some((l) => l.includes('etcd is down'))).toBe(true);
    } finally {
      undo();
    }
    await expect(flaky.authenticate(ctx([`Bearer ${good}`]))).resolves.toMatchObject({ subject: EXPECTED });
  });

  it('reuses an outcome for 10 s and shares one review between concurrent Connects', async () => {
    let now = 1_000_000;
    const auth = authenticator({ now: () => now });
    const before = tokenReviews();
    const burst = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(ctx([`Bearer ${good}`]))));
    expect(burst.every((id) => id.subject === EXPECTED)).toBe(true);
    expect(tokenReviews()).toBe(before + 1);
    now += 9_999;
    await auth.authenticate(ctx([`Bearer ${good}`]));
    expect(tokenReviews()).toBe(before + 1);
    now += 2;
    await auth.authenticate(ctx([`Bearer ${good}`]));
    expect(tokenReviews()).toBe(before + 2);

    const bad = fake.issueToken('kube-system', 'other', { audiences: [AUDIENCE] });
    await refusal(auth.authenticate(ctx([`Bearer ${bad}`])));
    await refusal(auth.authenticate(ctx([`Bearer ${bad}`])));
    expect(tokenReviews()).toBe(before + 3);
  });

  it('never writes a token into a log line or a refusal', async () => {
    const secret = fake.issueToken('tenant-a', 'konnectivity-agent', { audiences: [AUDIENCE] });
    const err = await refusal(authenticator().authenticate(ctx([`Bearer ${secret}`])));
    expect(err.message).not.toContain(secret);
    expect(log.lines.length).toBeGreaterThan(0);
    for (const t of [good, secret]) expect(log.lines.join('\n')).not.toContain(t);
    expect(log.lines.some((l) => l.includes('agent token refused') && l.includes('agent-1'))).toBe(true);
  });
});
