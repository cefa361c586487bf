/**
 * The agent in csr mode follows its CA bundle file (--ca-cert, the bootstrap
 * Secret mounted as a volume): a CA rotation appends the new CA to the
 * Secret, and new handshakes trust it without a restart. Here the agent
 * starts with a bundle that lacks the CA of the server's certificate, so
 * every handshake fails; once the file is rewritten with that CA added, the
 * same agent process connects, gets its certificate and ends up on mTLS.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DevCA } from '../../src/certs/dev-ca.js';
import { type CliProc, eventually, startCli, stopAll, adminAgents as agents } from '../support/cli-procs.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';

let dir: string;
let fake: FakeKube;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wiring-csr-ca-'));
  fake = await startFakeKube();
  for (const name of ['tunnel-server', 'tunnel-bootstrap-cluster-c']) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name } });
  }
});
afterEach(() => stopAll());
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A CLI server in csr mode against the fake API; `suffix` keeps its socket and certificate folder apart. */
function startCsrServer(suffix: string): CliProc {
  const serverKubeconfig = fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) });
  return startCli('server', [
    '--mode=server',
    `--uds-name=${path.join(dir, `frontend${suffix}.sock`)}`,
    '--agent-port=0',
    '--agent-bind-address=127.0.0.1',
    '--health-port=0',
    '--admin-port=0',
    '--cert-source=csr',
    `--kubeconfig=${serverKubeconfig}`,
    `--cert-dir=${path.join(dir, `server-certs${suffix}`)}`,
  ]);
}

describe('--cert-source=csr agent, --ca-cert rewritten on disk', () => {
  it('a bundle without the server\'s CA fails every handshake; with the CA added to the file, the same agent connects without a restart', async () => {
    const server = startCsrServer('');
    const listening = await server.listening();
    const adminPort = listening['adminPort'] as number;
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const tunnelCa = Buffer.from(secret.data['ca-bundle.crt']!, 'base64').toString('utf8');
    // Before the rotation reached this cluster: the bundle holds another CA only.
    const other = await DevCA.create('tunnel-ca previous');
    const caDir = path.join(dir, 'bootstrap-secret');
    rmSync(caDir, { recursive: true, force: true });
    const caFile = path.join(caDir, 'ca.crt');
    mkdirSync(caDir, { recursive: true });
    writeFileSync(caFile, other.certPem);
    const tokenFile = path.join(dir, 'bootstrap-token');
    writeFileSync(tokenFile, fake.issueToken('kube-system', 'tunnel-bootstrap-cluster-c', { expirationSeconds: 3600 }));

    const agent = startCli('agent', [
      '--mode=agent',
      '--proxy-server-host=127.0.0.1',
      `--proxy-server-port=${listening['agentPort'] as number}`,
      '--cert-source=csr',
      '--cluster-name=cluster-c',
      `--ca-cert=${caFile}`,
      `--bootstrap-token-path=${tokenFile}`,
      `--meta-kubeconfig=${fake.kubeconfigPath}`,
      `--cert-dir=${path.join(dir, 'agent-certs')}`,
      '--sync-interval=100ms',
      '--sync-interval-cap=200ms',
      '--health-server-port=0',
      '--admin-server-port=0',
    ]);
    // Every handshake fails: the server's certificate is not signed by anything in the bundle.
    await agent.waitFor((l) => l.message === 'cannot connect to proxy server', 'a failed connect');
    await eventually(
      () => Promise.resolve(agent.lines.filter((l) => l.message === 'cannot connect to proxy server').length),
      (n) => n >= 3,
      'three failed connects',
    );
    expect(await agents(adminPort)).toEqual([]);
    expect(agent.lines.some((l) => l.message === 'connected to proxy server')).toBe(false);

    // The rotation lands: the Secret volume now holds both CAs (written aside and renamed in, as the kubelet swaps files).
    const staged = path.join(caDir, '.ca.crt.new');
    writeFileSync(staged, `${other.certPem.trimEnd()}\n${tunnelCa}`);
    renameSync(staged, caFile);
    await agent.waitFor((l) => l.message === 'tunnel CA bundle reloaded; new connections trust it', 'the reload', 20_000);
    await eventually(
      () => agents(adminPort),
      (list) => list.length === 1 && list[0]!.authMethod === 'mtls' && list[0]!.identity === 'tunnel-agent:cluster-c',
      'agent cluster-c connected with its certificate',
      40_000,
    );
    expect(agent.running).toBe(true);
    expect(agent.lines.filter((l) => l.message === 'agent started')).toHaveLength(1);
    expect(agent.lines.find((l) => l.message === 'tunnel CA bundle reloaded; new connections trust it')!['certificates']).toBe(2);
  }, 60_000);

  it('a rewritten bundle that holds no certificate is refused and the previous one kept', async () => {
    const server = startCsrServer('2');
    const listening = await server.listening();
    const adminPort = listening['adminPort'] as number;
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const caFile = path.join(dir, 'ca2.crt');
    writeFileSync(caFile, Buffer.from(secret.data['ca-bundle.crt']!, 'base64'));
    const tokenFile = path.join(dir, 'bootstrap-token2');
    writeFileSync(tokenFile, fake.issueToken('kube-system', 'tunnel-bootstrap-cluster-c', { expirationSeconds: 3600 }));
    const agent = startCli('agent', [
      '--mode=agent',
      '--proxy-server-host=127.0.0.1',
      `--proxy-server-port=${listening['agentPort'] as number}`,
      '--cert-source=csr',
      '--cluster-name=cluster-c',
      `--ca-cert=${caFile}`,
      `--bootstrap-token-path=${tokenFile}`,
      `--meta-kubeconfig=${fake.kubeconfigPath}`,
      `--cert-dir=${path.join(dir, 'agent-certs2')}`,
      '--sync-interval=100ms',
      '--health-server-port=0',
      '--admin-server-port=0',
    ]);
    await eventually(() => agents(adminPort), (list) => list.length === 1 && list[0]!.authMethod === 'mtls', 'agent connected with mtls', 40_000);
    writeFileSync(caFile, 'not a certificate\n');
    const warn = await agent.waitFor((l) => l.message === 'the tunnel CA bundle changed but cannot be used; keeping the current one', 'the refusal');
    expect(String(warn['err'])).toMatch(/ca2.crt: not well-formed PEM/);
    expect((await agents(adminPort)).map((a) => a.authMethod)).toEqual(['mtls']);
  }, 60_000);
});
