import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HookError } from '../../../src/hooks/index.js';
import { clusterCredentialKindWithoutFieldSelectors } from '../../support/fake-kube/kinds/index.js';
import {
  CLUSTER_CA_PEM,
  CREDENTIAL_SA,
  metricValue,
  providerHooks,
  seedClusterCredential,
  seedTokenSecret,
  startTwoClusters,
  storedCredential,
  tokenOwner,
  type ProviderRun,
  type TwoClusters,
} from './helpers.js';

const CREDENTIAL_USER = `system:serviceaccount:${CREDENTIAL_SA.namespace}:${CREDENTIAL_SA.name}`;
const CC = 'clustercredentials.platform.tkestack.io';

describe('provider tkestack', () => {
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

  const patchesOf = (name?: string): string[] =>
    c.meta.requests.filter((r) => (r.verb === 'patch' || r.verb === 'update') && (!name || r.name === name)).map((r) => r.name ?? '');

  it('writes a working token of the credential ServiceAccount and the cluster CA into this cluster\'s ClusterCredential, and only it', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    seedClusterCredential(c.meta, 'cc-b', 'cls-b', { token: 'token-of-b' });
    const before = c.meta.store.get(CC, undefined, 'cc-b')!.metadata.resourceVersion;
    run = await providerHooks('tkestack', c);
    const report = await run.hooks.postStart();
    expect(report.providers).toEqual([{ provider: 'tkestack', result: 'success', attempts: 1 }]);

    const a = storedCredential(c.meta, 'cc-a');
    expect(await tokenOwner(c.managed, a.token)).toBe(CREDENTIAL_USER);
    expect(Buffer.from(a.caCert!, 'base64').toString()).toBe(CLUSTER_CA_PEM);
    expect(c.meta.store.get(CC, undefined, 'cc-b')!.metadata.resourceVersion).toBe(before);
    expect(storedCredential(c.meta, 'cc-b').token).toBe('token-of-b');
    expect(patchesOf()).toEqual(['cc-a']);
    expect(c.meta.requests.find((r) => r.verb === 'list')!.query.fieldSelector).toBe('clusterName=cls-a');
    expect(run.logs.text()).not.toContain(a.token!);
    expect(run.logs.withMessage('credential reported')[0]).toMatchObject({
      hook: 'tkestack',
      source: 'TokenRequest for ServiceAccount tunnel-system/tunnel-credential',
      target: 'ClusterCredential cc-a',
    });
    expect(await metricValue(run.registry, 'tunnel_hook_runs_total', { provider: 'tkestack', phase: 'postStartTunnelAgent', result: 'success' })).toBe(1);
  });

  it('asks the managed cluster only for a token of the one ServiceAccount and its CA ConfigMap', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    run = await providerHooks('tkestack', c);
    await run.hooks.postStart();
    const asked = c.managed.requests.filter((r) => r.user?.endsWith(':tunnel-agent')).map((r) => `${r.verb} ${r.resource}${r.subresource ? '/' + r.subresource : ''} ${r.namespace}/${r.name} ${r.code}`);
    expect(asked).toEqual([
      'create serviceaccounts/token tunnel-system/tunnel-credential 201',
      'get configmaps tunnel-system/kube-root-ca.crt 200',
    ]);
  });

  it('lists and filters when the meta cluster refuses the clusterName field selector', async () => {
    await c.close();
    c = await startTwoClusters({ metaKinds: [clusterCredentialKindWithoutFieldSelectors] });
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    seedClusterCredential(c.meta, 'cc-b', 'cls-b');
    run = await providerHooks('tkestack', c);
    await run.hooks.postStart();
    expect(await tokenOwner(c.managed, storedCredential(c.meta, 'cc-a').token)).toBe(CREDENTIAL_USER);
    expect(storedCredential(c.meta, 'cc-b').token).toBeUndefined();
    const lists = c.meta.requests.filter((r) => r.verb === 'list');
    expect(lists.map((r) => [r.code, r.query.fieldSelector])).toEqual([
      [400, 'clusterName=cls-a'],
      [200, undefined],
    ]);
  });

  it('re-reports a new token at 80 % of the TokenRequest lifetime', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    run = await providerHooks('tkestack', c, { options: { 'credential-token-ttl': '1h' } });
    await run.hooks.postStart();
    const first = storedCredential(c.meta, 'cc-a').token;
    const patched = c.meta.nextRequest((r) => r.verb === 'patch');
    await run.fake.tickAsync(48 * 60_000 - 1);
    expect(patchesOf()).toHaveLength(1);
    await run.fake.tickAsync(1);
    await patched;
    const second = storedCredential(c.meta, 'cc-a').token;
    expect(second).not.toBe(first);
    expect(await tokenOwner(c.managed, second)).toBe(CREDENTIAL_USER);
    expect(run.logs.withMessage('credential re-reported')).toHaveLength(1);
    expect(run.logs.text()).not.toContain(second!);
  });

  it('re-reports when the ServiceAccount\'s token Secret changes (source secret)', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    seedTokenSecret(c.managed, 'secret-token-1');
    run = await providerHooks('tkestack', c, { options: { 'credential-token-source': 'secret' } });
    await run.hooks.postStart();
    expect(storedCredential(c.meta, 'cc-a').token).toBe('secret-token-1');
    const patched = c.meta.nextRequest((r) => r.verb === 'patch');
    c.managed.store.patch('secrets', CREDENTIAL_SA.namespace, `${CREDENTIAL_SA.name}-token`, 'application/merge-patch+json', {
      data: { token: Buffer.from('secret-token-2').toString('base64') },
    });
    await patched;
    expect(storedCredential(c.meta, 'cc-a').token).toBe('secret-token-2');
    expect(run.logs.text()).not.toMatch(/secret-token-[12]/);
  });

  it('re-reports when the token file is rewritten (source file), with the CA beside it', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    const dir = mkdtempSync(path.join(tmpdir(), 'sa-'));
    try {
      writeFileSync(path.join(dir, 'token'), 'file-token-1\n');
      writeFileSync(path.join(dir, 'ca.crt'), 'FILE CA');
      run = await providerHooks('tkestack', c, { options: { 'credential-token-source': 'file', 'credential-token-file': path.join(dir, 'token') } });
      await run.hooks.postStart();
      expect(storedCredential(c.meta, 'cc-a')).toMatchObject({ token: 'file-token-1', caCert: Buffer.from('FILE CA').toString('base64') });
      writeFileSync(path.join(dir, 'token'), 'file-token-2\n');
      const patched = c.meta.nextRequest((r) => r.verb === 'patch');
      await run.fake.tickAsync(60_000);
      await patched;
      expect(storedCredential(c.meta, 'cc-a').token).toBe('file-token-2');
    } finally {
      await run?.hooks.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the kubeconfig\'s CA when the cluster has no kube-root-ca.crt', async () => {
    seedClusterCredential(c.meta, 'cc-a', 'cls-a');
    c.managed.store.delete('configmaps', CREDENTIAL_SA.namespace, 'kube-root-ca.crt');
    run = await providerHooks('tkestack', c);
    await run.hooks.postStart();
    expect(Buffer.from(storedCredential(c.meta, 'cc-a').caCert!, 'base64').toString()).toBe(c.managed.caPem);
  });

  describe('bad input', () => {
    it('no ClusterCredential for the cluster: policy fail stops with a clear message', async () => {
      seedClusterCredential(c.meta, 'cc-b', 'cls-b');
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail' });
      const err = (await run.hooks.postStart().catch((e: unknown) => e)) as HookError;
      expect(err).toBeInstanceOf(HookError);
      expect(err.message).toBe('PostStartTunnelAgent hook "tkestack" failed: no ClusterCredential with clusterName=cls-a in the meta cluster');
      expect(patchesOf()).toEqual([]);
    });

    it('no ClusterCredential yet: the default policy retries with backoff, the agent keeps running, and it succeeds once one appears', async () => {
      run = await providerHooks('tkestack', c);
      let settled = false;
      const done = run.hooks.postStart().finally(() => (settled = true));
      const retried = (n: number): Promise<void> =>
        (async () => {
          while (run!.logs.withMessage('hook will be retried').length < n) await new Promise((r) => setImmediate(r));
        })();
      await retried(1);
      expect(run.logs.withMessage('hook failed')[0]!.error).toBe(
        'PostStartTunnelAgent hook "tkestack" failed: no ClusterCredential with clusterName=cls-a in the meta cluster',
      );
      await run.fake.tickAsync(1000);
      await retried(2);
      expect(settled).toBe(false);
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      await run.fake.tickAsync(2000);
      const report = await done;
      expect(report.providers).toEqual([{ provider: 'tkestack', result: 'success', attempts: 3 }]);
      expect(await tokenOwner(c.managed, storedCredential(c.meta, 'cc-a').token)).toBe(CREDENTIAL_USER);
    });

    it('several ClusterCredentials for the cluster: names them and writes none', async () => {
      seedClusterCredential(c.meta, 'cc-2', 'cls-a');
      seedClusterCredential(c.meta, 'cc-1', 'cls-a');
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail' });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'PostStartTunnelAgent hook "tkestack" failed: 2 ClusterCredentials have clusterName=cls-a (cc-1, cc-2); refusing to pick one',
      );
      expect(patchesOf()).toEqual([]);
    });

    it('a 403 from the meta cluster: the error says who may not do what; policy ignore lets the agent go on', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      c.meta.addUser({ name: 'unprivileged', token: 'unprivileged-token' });
      c.meta.allow('unprivileged', ['get'], ['secrets']);
      run = await providerHooks('tkestack', c, { failurePolicy: 'ignore', metaKc: c.meta.kubeConfig('unprivileged') });
      const report = await run.hooks.postStart();
      expect(report.providers[0]!.result).toBe('error');
      expect(report.providers[0]!.error!.message).toBe(
        'PostStartTunnelAgent hook "tkestack" failed: list ClusterCredentials with clusterName=cls-a: clustercredentials.platform.tkestack.io is forbidden: User "unprivileged" cannot list resource "clustercredentials" in API group "platform.tkestack.io" at the cluster scope',
      );
      expect(storedCredential(c.meta, 'cc-a').token).toBeUndefined();
    });

    it('the credential ServiceAccount is missing: says which', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      c.managed.store.delete('serviceaccounts', CREDENTIAL_SA.namespace, CREDENTIAL_SA.name);
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail' });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'PostStartTunnelAgent hook "tkestack" failed: request a token for ServiceAccount tunnel-system/tunnel-credential: serviceaccounts "tunnel-credential" not found',
      );
    });

    it('the token Secret is absent (source secret): says which', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail', options: { 'credential-token-source': 'secret' } });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'PostStartTunnelAgent hook "tkestack" failed: token Secret tunnel-system/tunnel-credential-token not found',
      );
    });

    it('the token Secret is not a ServiceAccount token: says so', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      c.managed.store.create('secrets', { metadata: { namespace: 'tunnel-system', name: 'tunnel-credential-token' }, stringData: { token: 'x' } });
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail', options: { 'credential-token-source': 'secret' } });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'token Secret tunnel-system/tunnel-credential-token is of type Opaque, not kubernetes.io/service-account-token',
      );
    });

    it('the token file is absent (source file): says which', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      const file = path.join(tmpdir(), `no-such-dir-${process.pid}`, 'token');
      run = await providerHooks('tkestack', c, { failurePolicy: 'fail', options: { 'credential-token-source': 'file', 'credential-token-file': file } });
      await expect(run.hooks.postStart()).rejects.toThrow(`PostStartTunnelAgent hook "tkestack" failed: token file ${file} does not exist`);
    });

    it('a refresh that fails is retried with backoff until it works, without stopping the agent', async () => {
      seedClusterCredential(c.meta, 'cc-a', 'cls-a');
      seedTokenSecret(c.managed, 'tok-1');
      run = await providerHooks('tkestack', c, { options: { 'credential-token-source': 'secret' } });
      await run.hooks.postStart();
      const failing = c.meta.intercept((r) => (r.verb === 'patch' ? { code: 503, reason: 'ServiceUnavailable', message: 'meta apiserver restarting' } : undefined));
      const warned = new Promise<void>((resolve) => {
        const check = (): void => (run!.logs.withMessage('credential refresh failed; will retry').length > 0 ? resolve() : void setImmediate(check));
        check();
      });
      c.managed.store.patch('secrets', 'tunnel-system', 'tunnel-credential-token', 'application/merge-patch+json', {
        data: { token: Buffer.from('tok-2').toString('base64') },
      });
      await warned;
      const warning = run.logs.withMessage('credential refresh failed; will retry')[0]!;
      expect(warning).toMatchObject({ hook: 'tkestack', error: 'patch ClusterCredential cc-a: meta apiserver restarting' });
      const retryInMs = warning.retryInMs as number;
      expect(retryInMs).toBeGreaterThanOrEqual(1000);
      expect(retryInMs).toBeLessThanOrEqual(1200);
      failing();
      const patched = c.meta.nextRequest((r) => r.verb === 'patch' && r.code === 200);
      await run.fake.tickAsync(retryInMs - 1);
      expect(storedCredential(c.meta, 'cc-a').token).toBe('tok-1');
      await run.fake.tickAsync(1);
      await patched;
      expect(storedCredential(c.meta, 'cc-a').token).toBe('tok-2');
    });
  });
});
