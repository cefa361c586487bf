/**
 * --cert-source=csr end to end through the real CLI and the fake Kubernetes
 * API: the server creates the tunnel CA, signs its own certificate and runs
 * the signer; an agent that has only its cluster's bootstrap token and the
 * CA bundle connects with the token, gets CN=tunnel-agent:<cluster> through
 * a CSR, and ends up connected with it (identity method mtls). Restarted,
 * the agent uses the stored certificate at once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTunnel } from '../../src/client/index.js';
import { EchoTarget } from '../support/agent-peers.js';
import { type CliProc, eventually, httpGet, startCli, stopAll, adminAgents as agents } from '../support/cli-procs.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';

let dir: string;
let fake: FakeKube;
let echo: EchoTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wiring-csr-'));
  fake = await startFakeKube();
  echo = await EchoTarget.start();
  for (const name of ['tunnel-server', 'tunnel-bootstrap-cluster-a']) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name } });
  }
});
afterEach(() => stopAll());
afterAll(async () => {
  await echo.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function startAgent(agentPort: number, files: { ca: string; token: string }): CliProc {
  return startCli('agent', [
    '--mode=agent',
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${agentPort}`,
    '--cert-source=csr',
    '--cluster-name=cluster-a',
    '--agent-identifiers=host=cluster-a',
    `--ca-cert=${files.ca}`,
    `--bootstrap-token-path=${files.token}`,
    `--meta-kubeconfig=${fake.kubeconfigPath}`,
    `--cert-dir=${path.join(dir, 'agent-certs')}`,
    '--sync-interval=100ms',
    '--health-server-port=0',
    '--admin-server-port=0',
  ]);
}

describe('--cert-source=csr', () => {
  it('an agent with only a bootstrap token ends up connected with a certificate issued through a CSR', async () => {
    const serverKubeconfig = fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) });
    const server = startCli('server', [
      '--mode=server',
      `--uds-name=${path.join(dir, 'frontend.sock')}`,
      '--agent-port=0',
      '--agent-bind-address=127.0.0.1',
      '--health-port=0',
      '--admin-port=0',
      '--cert-source=csr',
      `--kubeconfig=${serverKubeconfig}`,
      '--namespace=kube-system',
      `--cert-dir=${path.join(dir, 'server-certs')}`,
    ]);
    const listening = await server.listening();
    const agentPort = listening['agentPort'] as number;
    const adminPort = listening['adminPort'] as number;
    const healthPort = listening['healthPort'] as number;

    // What the install hands the agent: the CA bundle (from the Secret the server created) and a bootstrap token.
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const caFile = path.join(dir, 'tunnel-ca.crt');
    writeFileSync(caFile, Buffer.from(secret.data['ca-bundle.crt']!, 'base64'));
    const tokenFile = path.join(dir, 'bootstrap-token');
    writeFileSync(tokenFile, fake.issueToken('kube-system', 'tunnel-bootstrap-cluster-a', { expirationSeconds: 3600 }));

    const agent = startAgent(agentPort, { ca: caFile, token: tokenFile });
    await agent.listening();
    const connected = await eventually(
      () => agents(adminPort),
      (list) => list.some((a) => a.id === 'cluster-a' && a.authMethod === 'mtls'),
      'agent cluster-a connected with its certificate',
      40_000,
    );
    expect(connected.find((a) => a.authMethod === 'mtls')!.identity).toBe('tunnel-agent:cluster-a');
    await agent.waitFor((l) => l.message === 'obtained a new certificate', 'the agent certificate');
    await agent.waitFor((l) => l.message === 'reconnecting with the issued certificate', 'the reconnect');
    // The token connection is gone: only the certificate one is left.
    await eventually(() => agents(adminPort), (list) => list.length === 1 && list[0]!.authMethod === 'mtls', 'only the mtls connection left');

    // The issued certificate: CN=tunnel-agent:cluster-a, signed by the tunnel CA, kept in --cert-dir.
    const leaf = new X509Certificate(readFileSync(path.join(dir, 'agent-certs', 'agent-client.crt')));
    expect(leaf.subject).toBe('CN=tunnel-agent:cluster-a\nO=tunnel.tkestack.io:agents');
    expect(leaf.checkIssued(new X509Certificate(readFileSync(caFile)))).toBe(true);

    // Traffic flows, and the server is ready (agent connected, its own certificate fresh).
    const tunnel = await createTunnel({ uds: path.join(dir, 'frontend.sock') });
    try {
      const sock = await tunnel.dial(echo.address);
      const back = new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
      sock.write('through a CSR-issued certificate');
      expect(await back).toBe('through a CSR-issued certificate');
      sock.destroy();
    } finally {
      await tunnel.close();
    }
    const ready = await httpGet(healthPort, '/readyz?verbose');
    expect(ready.status).toBe(200);
    expect(ready.body).toContain('[+]certificate ok');

    // Restarted, the agent uses its stored certificate at once, without the token.
    await agent.kill();
    await eventually(() => agents(adminPort), (list) => list.length === 0, 'agent gone');
    const again = startAgent(agentPort, { ca: caFile, token: tokenFile });
    await again.waitFor((l) => l.message === 'using the stored certificate', 'the stored certificate');
    await eventually(() => agents(adminPort), (list) => list.length === 1 && list[0]!.authMethod === 'mtls', 'agent back with mtls');
    expect(again.lines.some((l) => l.message === 'connecting with the bootstrap token until the certificate is issued')).toBe(false);
  }, 90_000);

  it('without --meta-kubeconfig the agent requests its certificate through pull mode, with its bootstrap token', async () => {
    const serverKubeconfig = fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) });
    const apiserver = new URL(fake.url).host;
    const server = startCli('server', [
      '--mode=server',
      `--uds-name=${path.join(dir, 'pull.sock')}`,
      '--agent-port=0',
      '--agent-bind-address=127.0.0.1',
      '--health-port=0',
      '--admin-port=0',
      '--cert-source=csr',
      `--kubeconfig=${serverKubeconfig}`,
      `--cert-dir=${path.join(dir, 'pull-server-certs')}`,
      `--pull-target=kubernetes=${apiserver}`,
    ]);
    const listening = await server.listening();
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const caFile = path.join(dir, 'pull-tunnel-ca.crt');
    writeFileSync(caFile, Buffer.from(secret.data['ca-bundle.crt']!, 'base64'));
    const apiCa = path.join(dir, 'meta-apiserver-ca.crt');
    writeFileSync(apiCa, fake.caPem);
    const tokenFile = path.join(dir, 'pull-bootstrap-token');
    writeFileSync(tokenFile, fake.issueToken('kube-system', 'tunnel-bootstrap-cluster-a', { expirationSeconds: 3600 }));
    fake.clearRequests();

    const agent = startCli('agent', [
      '--mode=agent',
      '--proxy-server-host=127.0.0.1',
      `--proxy-server-port=${listening['agentPort'] as number}`,
      '--cert-source=csr',
      '--cluster-name=cluster-a',
      `--ca-cert=${caFile}`,
      `--bootstrap-token-path=${tokenFile}`,
      `--cert-dir=${path.join(dir, 'pull-agent-certs')}`,
      `--pull-kube-ca-cert=${apiCa}`,
      '--pull-kube-tls-server-name=127.0.0.1',
      '--sync-interval=100ms',
      '--health-server-port=0',
      '--admin-server-port=0',
    ]);
    await agent.waitFor((l) => l.message === 'obtained a new certificate', 'the agent certificate', 40_000);
    await eventually(
      () => agents(listening['adminPort'] as number),
      (list) => list.length === 1 && list[0]!.authMethod === 'mtls' && list[0]!.identity === 'tunnel-agent:cluster-a',
      'agent cluster-a connected with its certificate',
      40_000,
    );
    // The CSR came from the bootstrap ServiceAccount, through the tunnel.
    const created = fake.requests.find((r) => r.resource === 'certificatesigningrequests' && r.verb === 'create' && r.user !== 'system:serviceaccount:kube-system:tunnel-server');
    expect(created?.user).toBe('system:serviceaccount:kube-system:tunnel-bootstrap-cluster-a');
  }, 90_000);

  it('a server whose Kubernetes identity is not its ServiceAccount does not start, and says why', async () => {
    const server = startCli('server', [
      '--mode=server',
      `--uds-name=${path.join(dir, 'other.sock')}`,
      '--agent-port=0',
      '--health-port=0',
      '--admin-port=0',
      '--cert-source=csr',
      `--kubeconfig=${fake.kubeconfigPath}`,
      `--cert-dir=${path.join(dir, 'admin-certs')}`,
    ]);
    expect(await server.exited).toBe(1);
    const error = server.lines.find((l) => l.level === 'error');
    expect(error?.message).toMatch(/was denied .*rule requester: "admin" may not request server certificates/);
  }, 60_000);
});
