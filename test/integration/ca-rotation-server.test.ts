/**
 * A CA rotation with `tunnel ca` while a csr-mode server runs (CLI, with
 * --ca-reload-interval=1s): after `stage` and `promote` by another process,
 * the same server process signs new agent certificates with the new CA,
 * renews its own certificate under it, and still accepts an agent whose
 * certificate is of the old CA (which stays in the bundle).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCa } from '../support/ca-cli.js';
import { eventually, startCli, stopAll, type CliProc, adminAgents as agents } from '../support/cli-procs.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';

let dir: string;
let fake: FakeKube;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ca-rotation-'));
  fake = await startFakeKube();
  for (const name of ['tunnel-server', 'tunnel-bootstrap-cluster-a', 'tunnel-bootstrap-cluster-b']) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name } });
  }
});
afterEach(() => stopAll());
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

const secretText = (key: string): string => {
  const s = fake.store.mustGet('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
  return Buffer.from(s.data[key]!, 'base64').toString('utf8');
};

/** Writes the bundle as the kubelet updates a Secret volume: aside, then renamed in. */
function writeBundle(file: string, pem: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.new`, pem);
  renameSync(`${file}.new`, file);
}

function startAgent(cluster: string, agentPort: number, caFile: string, certDir: string): CliProc {
  const tokenFile = path.join(dir, `token-${cluster}`);
  writeFileSync(tokenFile, fake.issueToken('kube-system', `tunnel-bootstrap-${cluster}`, { expirationSeconds: 3600 }));
  return startCli(`agent-${cluster}`, [
    '--mode=agent',
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${agentPort}`,
    '--cert-source=csr',
    `--cluster-name=${cluster}`,
    `--ca-cert=${caFile}`,
    `--bootstrap-token-path=${tokenFile}`,
    `--meta-kubeconfig=${fake.kubeconfigPath}`,
    `--cert-dir=${certDir}`,
    '--sync-interval=100ms',
    '--sync-interval-cap=200ms',
    '--health-server-port=0',
    '--admin-server-port=0',
  ]);
}

const issuedBy = (certFile: string, caPem: string): boolean => {
  const leaf = new X509Certificate(readFileSync(certFile));
  const ca = new X509Certificate(caPem);
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
};

describe('tunnel ca stage/promote while a csr server runs', () => {
  it('the running server signs with the promoted CA, renews its own certificate under it, and still accepts old-CA agents', async () => {
    const serverCerts = path.join(dir, 'server-certs');
    const server = startCli('server', [
      '--mode=server',
      `--uds-name=${path.join(dir, 'frontend.sock')}`,
      '--agent-port=0',
      '--agent-bind-address=127.0.0.1',
      '--health-port=0',
      '--admin-port=0',
      '--cert-source=csr',
      '--ca-reload-interval=1s',
      `--kubeconfig=${fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) })}`,
      `--cert-dir=${serverCerts}`,
    ]);
    const listening = await server.listening();
    const adminPort = listening['adminPort'] as number;
    const agentPort = listening['agentPort'] as number;
    const oldCa = secretText('tls.crt');
    expect(issuedBy(path.join(serverCerts, 'server.crt'), oldCa)).toBe(true);

    // Agent A gets a certificate of the old CA.
    const caFileA = path.join(dir, 'bootstrap-a', 'ca.crt');
    writeBundle(caFileA, secretText('ca-bundle.crt'));
    const certsA = path.join(dir, 'agent-a');
    let agentA = startAgent('cluster-a', agentPort, caFileA, certsA);
    await eventually(() => agents(adminPort), (l) => l.some((a) => a.id === 'cluster-a' && a.authMethod === 'mtls'), 'cluster-a on mTLS', 40_000);
    expect(issuedBy(path.join(certsA, 'agent-client.crt'), oldCa)).toBe(true);
    const serialA = new X509Certificate(readFileSync(path.join(certsA, 'agent-client.crt'))).serialNumber;

    // Step 1, by another process: stage; the bundle goes to agent A's bootstrap Secret.
    const staged = await runCa(['stage', `--kubeconfig=${fake.kubeconfigPath}`]);
    expect(staged.code).toBe(0);
    const newCa = secretText('next.crt');
    writeBundle(caFileA, secretText('ca-bundle.crt'));
    await agentA.waitFor((l) => l.message === 'tunnel CA bundle reloaded; new connections trust it', 'agent A reloads the bundle', 20_000);
    // Signing has not changed: the server certificate is still of the old CA.
    expect(issuedBy(path.join(serverCerts, 'server.crt'), oldCa)).toBe(true);

    // Step 2: promote. The server (re-reading every 1s) renews its own certificate under the new CA.
    const promoted = await runCa(['promote', `--kubeconfig=${fake.kubeconfigPath}`]);
    expect(promoted.code).toBe(0);
    const renewed = await server.waitFor((l) => l.message === 'server certificate renewed under the signing CA', 'the server renews its certificate', 20_000);
    expect(server.lines.some((l) => l.message === 'the tunnel CA was rotated; renewing the server certificate under the signing CA')).toBe(true);
    expect(issuedBy(path.join(serverCerts, 'server.crt'), newCa)).toBe(true);
    expect(new X509Certificate(readFileSync(path.join(serverCerts, 'server.crt'))).serialNumber).toBe(renewed['serial']);

    // A new agent, with the new bundle, gets a certificate of the new CA from the same server process and connects on mTLS.
    const caFileB = path.join(dir, 'bootstrap-b', 'ca.crt');
    writeBundle(caFileB, secretText('ca-bundle.crt'));
    const certsB = path.join(dir, 'agent-b');
    startAgent('cluster-b', agentPort, caFileB, certsB);
    await eventually(() => agents(adminPort), (l) => l.some((a) => a.id === 'cluster-b' && a.authMethod === 'mtls'), 'cluster-b on mTLS', 40_000);
    expect(issuedBy(path.join(certsB, 'agent-client.crt'), newCa)).toBe(true);
    expect(issuedBy(path.join(certsB, 'agent-client.crt'), oldCa)).toBe(false);

    // Agent A still holds its old-CA certificate; restarted, it reuses it and connects on mTLS (the old CA is still in the bundle).
    expect((await agents(adminPort)).find((a) => a.id === 'cluster-a')?.authMethod).toBe('mtls');
    await agentA.kill();
    await eventually(() => agents(adminPort), (l) => !l.some((a) => a.id === 'cluster-a'), 'cluster-a gone', 20_000);
    agentA = startAgent('cluster-a', agentPort, caFileA, certsA);
    await eventually(() => agents(adminPort), (l) => l.some((a) => a.id === 'cluster-a' && a.authMethod === 'mtls'), 'cluster-a back on mTLS', 40_000);
    expect(new X509Certificate(readFileSync(path.join(certsA, 'agent-client.crt'))).serialNumber).toBe(serialA);
    expect(issuedBy(path.join(certsA, 'agent-client.crt'), oldCa)).toBe(true);
    expect(server.running).toBe(true);
    expect(server.lines.filter((l) => l.message === 'listening')).toHaveLength(1);
  }, 120_000);
});
