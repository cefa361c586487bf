/**
 * The agent's meta-cluster client: the real @kubernetes/client-node in the
 * agent reads objects from a Kubernetes API on the server's side
 * (`--pull-target=kubernetes=127.0.0.1:<port>`, read by the real CLI
 * parser), through pull mode only: its server URL is https://kubernetes, a
 * name nothing resolves, so every byte travels over pull streams.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { parseCommandLine } from '../../src/cli/parse.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { TunnelServer } from '../../src/server/index.js';
import { until } from '../support/agent-peers.js';
import { type FakeKube, startFakeKube } from '../support/fake-kube/index.js';
import { configMapKind } from '../support/fake-kube/kinds/index.js';
import { type PullPki, writePullPki } from '../support/pull-peers.js';

let dir: string;
let pki: PullPki;
let kube: FakeKube;
let server: TunnelServer;
let serverRegistry: Registry;
let agent: TunnelAgent;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pull-kube-'));
  pki = await writePullPki(path.join(dir, 'pki'), ['cluster-a']);
  kube = await startFakeKube({ namespaces: ['tunnel-system'], kinds: [configMapKind] });
  kube.store.create('configmaps', { metadata: { namespace: 'tunnel-system', name: 'platform' }, data: { region: 'ap-guangzhou' } });
  const port = new URL(kube.url).port;
  const cmd = parseCommandLine(
    [
      '--mode=server',
      `--uds-name=${path.join(dir, 'fe.sock')}`,
      '--agent-port=0',
      '--agent-bind-address=127.0.0.1',
      `--cluster-cert=${pki.serverCert}`,
      `--cluster-key=${pki.serverKey}`,
      `--cluster-ca-cert=${pki.caCert}`,
      '--health-port=0',
      '--admin-port=0',
      `--pull-target=kubernetes=127.0.0.1:${port}`,
    ],
    { TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' },
  );
  if (cmd.mode !== 'server') throw new Error('not a server command');
  serverRegistry = newRegistry(false);
  server = new TunnelServer({ ...cmd.config, healthPort: -1, adminPort: -1 }, { logger: silentLogger(), registry: serverRegistry });
  const { agentPort } = await server.start();

  const caFile = path.join(dir, 'meta-ca.crt');
  writeFileSync(caFile, kube.caPem);
  const tokenFile = path.join(dir, 'meta-token');
  writeFileSync(tokenFile, kube.adminToken);
  agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: agentPort,
      caCert: pki.caCert,
      agentCert: pki.agents['cluster-a']!.cert,
      agentKey: pki.agents['cluster-a']!.key,
      healthServerPort: -1,
      adminServerPort: -1,
      pull: {
        listen: [],
        // The fake's certificate names localhost, where a real apiserver's names `kubernetes`.
        kube: { target: 'kubernetes', caCert: caFile, tokenPath: tokenFile, tlsServerName: 'localhost' },
      },
    }),
    { logger: silentLogger(), registry: newRegistry(false) },
  );
  await agent.start();
  await agent.pull.whenAvailable(AbortSignal.timeout(5000));
});

afterAll(async () => {
  await agent?.stop();
  await server?.shutdown({ graceful: false });
  await kube?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('meta-cluster KubeConfig through pull mode', () => {
  it('is allowed by default (every authenticated agent may reach kubernetes) and lists it as learned', () => {
    expect(agent.pull.targets()).toEqual(['kubernetes']);
  });

  it('reads objects with the token and CA of the --pull-kube-* settings', async () => {
    const kc = await agent.pull.kubeConfig();
    expect(kc.getCurrentCluster()?.server).toBe('https://kubernetes');
    const core = kc.makeApiClient(CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ namespace: 'tunnel-system', name: 'platform' });
    expect(cm.data).toEqual({ region: 'ap-guangzhou' });
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('tunnel-system');
    expect(kube.requests.some((r) => r.user === 'admin' && r.resource === 'configmaps')).toBe(true);
    kc.destroyAgents();
    await until(() => server.pull.stats().streams === 0, 5000, 'pull streams closed');
    const ok = (await serverRegistry.getMetricsAsJSON())
      .find((m) => m.name === 'tunnel_pull_connections_total')
      ?.values.find((v) => v.labels['target'] === 'kubernetes' && v.labels['result'] === 'ok');
    expect(ok?.value).toBeGreaterThanOrEqual(1);
  });

  it('takes a token and CA given in code (as certificate bootstrap and hooks do)', async () => {
    const token = kube.issueToken('tunnel-system', 'default');
    const kc = await agent.pull.kubeConfig({ caCert: '', caData: kube.caPem, tokenPath: '', token });
    const core = kc.makeApiClient(CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ namespace: 'tunnel-system', name: 'platform' });
    expect(cm.metadata?.name).toBe('platform');
    expect(kube.requests.some((r) => r.user === 'system:serviceaccount:tunnel-system:default')).toBe(true);
    kc.destroyAgents();
  });
});
