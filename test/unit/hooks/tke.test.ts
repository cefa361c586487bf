import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CLUSTER_CA_PEM,
  CREDENTIAL_SA,
  providerHooks,
  startTwoClusters,
  tokenOwner,
  type ProviderRun,
  type TwoClusters,
} from './helpers.js';

const CREDENTIAL_USER = `system:serviceaccount:${CREDENTIAL_SA.namespace}:${CREDENTIAL_SA.name}`;

interface StoredSecret {
  data: Record<string, string>;
  type: string;
  metadata: { labels?: Record<string, string>; resourceVersion: string };
}

describe('provider tke', () => {
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

  const secret = (ns = 'tke-anp-tunnel', name = 'cls-a-credential'): StoredSecret | undefined =>
    c.meta.store.get('secrets', ns, name) as StoredSecret | undefined;
  const decoded = (s: StoredSecret | undefined): Record<string, string> =>
    Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  const writes = (): string[] =>
    c.meta.requests.filter((r) => r.resource === 'secrets' && r.verb !== 'get').map((r) => `${r.verb} ${r.code}`);

  it('creates <cluster>-credential with token, CA and server address, labelled with the cluster, then updates it when the token rotates', async () => {
    run = await providerHooks('tke', c);
    await run.hooks.postStart();
    const first = secret()!;
    const data = decoded(first);
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'server', 'token']);
    expect(await tokenOwner(c.managed, data.token)).toBe(CREDENTIAL_USER);
    expect(data['ca.crt']).toBe(CLUSTER_CA_PEM);
    expect(data.server).toBe('https://cls-a:443');
    expect(first.type).toBe('Opaque');
    expect(first.metadata.labels).toEqual({ 'tunnel.tkestack.io/cluster-name': 'cls-a' });
    expect(writes()).toEqual(['create 201']);
    expect(run.logs.withMessage('credential reported')[0]).toMatchObject({ target: 'Secret tke-anp-tunnel/cls-a-credential (created)' });

    const updated = c.meta.nextRequest((r) => r.resource === 'secrets' && r.verb === 'update');
    await run.fake.tickAsync(48 * 60_000);
    await updated;
    const second = decoded(secret());
    expect(second.token).not.toBe(data.token);
    expect(await tokenOwner(c.managed, second.token)).toBe(CREDENTIAL_USER);
    expect(writes()).toEqual(['create 201', 'create 409', 'update 200']);
    expect(run.logs.text()).not.toContain(second.token);
    expect(run.logs.text()).not.toContain(data.token);
  });

  it('takes over a Secret that already exists: 409 on create, then read and update, keeping other keys', async () => {
    c.meta.store.create('secrets', {
      metadata: { namespace: 'tke-anp-tunnel', name: 'cls-a-credential', labels: { team: 'platform' } },
      stringData: { token: 'stale', note: 'kept' },
    });
    run = await providerHooks('tke', c, { options: { 'credential-server': 'https://{cluster-name}.tunnel:6443' } });
    await run.hooks.postStart();
    const s = secret()!;
    expect(decoded(s)).toMatchObject({ note: 'kept', server: 'https://cls-a.tunnel:6443', 'ca.crt': CLUSTER_CA_PEM });
    expect(await tokenOwner(c.managed, decoded(s).token)).toBe(CREDENTIAL_USER);
    expect(s.metadata.labels).toEqual({ team: 'platform', 'tunnel.tkestack.io/cluster-name': 'cls-a' });
    expect(writes()).toEqual(['create 409', 'update 200']);
  });

  it('re-reads and retries when the update meets a newer version (409 Conflict)', async () => {
    c.meta.store.create('secrets', { metadata: { namespace: 'tke-anp-tunnel', name: 'cls-a-credential' }, stringData: { token: 'stale' } });
    let conflicts = 1;
    c.meta.intercept((r) =>
      r.verb === 'update' && conflicts-- > 0
        ? { code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on secrets "cls-a-credential": the object has been modified' }
        : undefined,
    );
    run = await providerHooks('tke', c);
    await run.hooks.postStart();
    expect(await tokenOwner(c.managed, decoded(secret()).token)).toBe(CREDENTIAL_USER);
    expect(writes()).toEqual(['create 409', 'update 409', 'update 200']);
    expect(c.meta.requests.filter((r) => r.verb === 'get').length).toBe(2);
  });

  it('writes into --credential-namespace', async () => {
    c.meta.store.create('namespaces', { metadata: { name: 'platform-creds' } });
    c.meta.allowRule('tunnel-agent-cls-a', { verbs: ['create', 'get', 'update'], resources: ['secrets'], namespaces: ['platform-creds'] });
    run = await providerHooks('tke', c, { options: { 'credential-namespace': 'platform-creds' } });
    await run.hooks.postStart();
    expect(secret('platform-creds')).toBeDefined();
    expect(secret()).toBeUndefined();
  });

  describe('bad input', () => {
    it('a namespace the agent may not write to: a 403 that names user, verb and namespace', async () => {
      c.meta.store.create('namespaces', { metadata: { name: 'elsewhere' } });
      run = await providerHooks('tke', c, { failurePolicy: 'fail', options: { 'credential-namespace': 'elsewhere' } });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'PostStartTunnelAgent hook "tke" failed: create Secret elsewhere/cls-a-credential: secrets is forbidden: User "tunnel-agent-cls-a" cannot create resource "secrets" in API group "" in the namespace "elsewhere"',
      );
    });

    it('a cluster name that cannot name a Secret', async () => {
      run = await providerHooks('tke', c, { failurePolicy: 'fail', clusterName: 'Cluster_A' });
      await expect(run.hooks.postStart()).rejects.toThrow(
        'cluster name "Cluster_A" (--cluster-name) cannot name a Secret: it must be a lower-case DNS label',
      );
    });

    it('a bad --credential-namespace stops the start', async () => {
      await expect(providerHooks('tke', c, { options: { 'credential-namespace': 'Not/A/Namespace' } })).rejects.toThrow(
        'invalid value "Not/A/Namespace" for --credential-namespace: must be a namespace name (a lower-case DNS label)',
      );
    });
  });
});
