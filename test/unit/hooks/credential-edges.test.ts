import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createClusterCredentialClient, KubeError } from '../../../src/kube/index.js';
import {
  CREDENTIAL_SA,
  providerHooks,
  seedClusterCredential,
  seedTokenSecret,
  startTwoClusters,
  storedCredential,
  type ProviderRun,
  type TwoClusters,
} from './helpers.js';

describe('credential reporting edges', () => {
  let c: TwoClusters;
  let run: ProviderRun | undefined;
  beforeEach(async () => {
    c = await startTwoClusters();
  });
  afterEach(async () => {
    await run?.hooks.stop();
    run = undefined;
    await c.close();
  });

  it('the ClusterCredential patch never lands on an object of another cluster', async () => {
    seedClusterCredential(c.meta, 'cc-b', 'cls-b', { token: 'token-of-b' });
    const client = createClusterCredentialClient(c.metaKc);
    const err = await client.setToken('cc-b', 'cls-a', { token: 'mine' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(422);
    expect(storedCredential(c.meta, 'cc-b').token).toBe('token-of-b');
  });

  it('a token Secret deleted and created again with a new token: warned about, then the new token is reported', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    seedTokenSecret(c.managed, 'tok-1');
    run = await providerHooks('tkestack', c, { options: { 'credential-token-source': 'secret' } });
    await run.hooks.postStart();
    c.managed.store.delete('secrets', CREDENTIAL_SA.namespace, `${CREDENTIAL_SA.name}-token`);
    while (run.logs.withMessage('credential refresh failed; will retry').length === 0) await new Promise((r) => setImmediate(r));
    const warning = run.logs.withMessage('credential refresh failed; will retry')[0]!;
    expect(warning.error).toBe('token Secret tunnel-system/tunnel-credential-token not found');
    seedTokenSecret(c.managed, 'tok-2');
    const patched = c.meta.nextRequest((r) => r.verb === 'patch');
    await run.fake.tickAsync(warning.retryInMs as number);
    await patched;
    expect(storedCredential(c.meta, 'cc-a').token).toBe('tok-2');
  });

  it('an unchanged credential is not written again', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    seedTokenSecret(c.managed, 'same', { caPem: 'SECRET CA' });
    run = await providerHooks('tkestack', c, { options: { 'credential-token-source': 'secret' } });
    await run.hooks.postStart();
    expect(storedCredential(c.meta, 'cc-a')).toMatchObject({ token: 'same', caCert: Buffer.from('SECRET CA').toString('base64') });
    const watched = c.managed.nextRequest((r) => r.verb === 'get' && r.resource === 'secrets');
    // A change that leaves the token alone (an annotation) wakes the watch; nothing is re-reported.
    c.managed.store.patch('secrets', CREDENTIAL_SA.namespace, `${CREDENTIAL_SA.name}-token`, 'application/merge-patch+json', {
      metadata: { annotations: { touched: 'yes' } },
    });
    await watched;
    // Back to watching (the first watch ended, a second is open): any re-report would have happened by now.
    const watchesEnded = (): number => c.managed.requests.filter((r) => r.verb === 'watch').length;
    while (watchesEnded() < 1 || c.managed.activeWatches() !== 1) await new Promise((r) => setImmediate(r));
    expect(c.meta.requests.filter((r) => r.verb === 'patch')).toHaveLength(1);
  });
});
