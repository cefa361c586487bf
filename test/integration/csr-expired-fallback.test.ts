/**
 * An agent whose CSR-issued certificate expired because every renewal
 * failed, through the real CLI and the fake Kubernetes API: server and
 * agent in --cert-source=csr with a 6-second --cert-lifetime (env
 * TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1), the agent's CSRs going to the meta
 * apiserver through pull mode (so renewal needs a working tunnel). Once
 * the agent is on mTLS, the fake API answers its CSR creates with 503
 * until the certificate has expired; the server is then restarted on the
 * same agent port, so the agent must open a new connection. It does not
 * present the expired certificate (the server would refuse it at TLS): it
 * warns once, naming the expiry, and connects with its bootstrap token.
 * When the API accepts its CSRs again, the renewal goes through that token
 * connection, and the agent is back on mTLS with a new certificate, the
 * token connection closed, all in the same agent process.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CliProc, type LogLine, eventually, startCli, stopAll, adminAgents as agents } from '../support/cli-procs.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';

const SHORT = { TUNNEL_ALLOW_SHORT_CERT_LIFETIME: '1' };
const LIFETIME = '6s';
const CLUSTER = 'cluster-x';
const BOOTSTRAP_USER = `system:serviceaccount:kube-system:tunnel-bootstrap-${CLUSTER}`;
const FALLBACK_WARN = /^the agent certificate expired at (\S+) and no renewal has succeeded; connecting with the bootstrap token until a new certificate is issued$/;

let dir: string;
let fake: FakeKube;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'csr-expired-fallback-'));
  fake = await startFakeKube();
  for (const name of ['tunnel-server', `tunnel-bootstrap-${CLUSTER}`]) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name } });
  }
});
afterEach(() => stopAll());
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

const obtained = (p: CliProc): LogLine[] => p.lines.filter((l) => l.message === 'obtained a new certificate');
const renewalFailures = (p: CliProc): LogLine[] => p.lines.filter((l) => l.message === 'could not obtain a certificate; will retry');
const fallbackWarns = (p: CliProc): LogLine[] => p.lines.filter((l) => l.level === 'warn' && FALLBACK_WARN.test(l.message));

describe('csr mode: an expired agent certificate', () => {
  it('is not presented: the agent reconnects with its bootstrap token, renews through it, and is back on mtls without a restart', async () => {
    const serverKubeconfig = fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) });
    const apiserver = new URL(fake.url).host;
    const serverArgs = (agentPort: number, uds: string): string[] => [
      '--mode=server',
      `--uds-name=${path.join(dir, uds)}`,
      `--agent-port=${agentPort}`,
      '--agent-bind-address=127.0.0.1',
      '--health-port=0',
      '--admin-port=0',
      '--cert-source=csr',
      `--cert-lifetime=${LIFETIME}`,
      `--kubeconfig=${serverKubeconfig}`,
      `--cert-dir=${path.join(dir, 'server-certs')}`,
      `--pull-target=kubernetes=${apiserver}`,
    ];
    const server = startCli('server', serverArgs(0, 'first.sock'), SHORT);
    const listening = await server.listening();
    const agentPort = listening['agentPort'] as number;
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const caFile = path.join(dir, 'tunnel-ca.crt');
    writeFileSync(caFile, Buffer.from(secret.data['ca-bundle.crt']!, 'base64'));
    const apiCa = path.join(dir, 'meta-apiserver-ca.crt');
    writeFileSync(apiCa, fake.caPem);
    const tokenFile = path.join(dir, 'bootstrap-token');
    writeFileSync(tokenFile, fake.issueToken('kube-system', `tunnel-bootstrap-${CLUSTER}`, { expirationSeconds: 3600 }));

    const agent = startCli(
      'agent',
      [
        '--mode=agent',
        '--proxy-server-host=127.0.0.1',
        `--proxy-server-port=${agentPort}`,
        '--cert-source=csr',
        `--cert-lifetime=${LIFETIME}`,
        `--cluster-name=${CLUSTER}`,
        `--ca-cert=${caFile}`,
        `--bootstrap-token-path=${tokenFile}`,
        `--cert-dir=${path.join(dir, 'agent-certs')}`,
        `--pull-kube-ca-cert=${apiCa}`,
        '--pull-kube-tls-server-name=127.0.0.1',
        '--sync-interval=100ms',
        '--sync-interval-cap=500ms',
        '--health-server-port=0',
        '--admin-server-port=0',
      ],
      SHORT,
    );
    await eventually(
      () => agents(listening['adminPort'] as number),
      (list) => list.length === 1 && list[0]!.authMethod === 'mtls',
      'agent connected with its first certificate',
      30_000,
    );
    const agentPid = agent.pid;

    // From now on the meta apiserver refuses the agent's CSRs: every renewal fails.
    let refused = 0;
    const heal = fake.intercept((r) => {
      if (r.resource !== 'certificatesigningrequests' || r.verb !== 'create' || r.user !== BOOTSTRAP_USER) return undefined;
      refused += 1;
      return { code: 503, reason: 'ServiceUnavailable', message: 'etcd is down' };
    });
    let healed = false;
    try {
      // A renewal fails (one already in flight may still have succeeded: the last certificate obtained is the one that expires).
      const failuresBefore = renewalFailures(agent).length;
      await eventually(() => Promise.resolve(renewalFailures(agent).length), (n) => n > failuresBefore, 'a failed renewal', 20_000);
      const last = obtained(agent).at(-1)!;
      const notAfter = Date.parse(last['notAfter'] as string);
      const serialBefore = last['serial'] as string;
      // The open mTLS connection outlives the certificate (established tunnels are not dropped) ...
      await eventually(
        () => Promise.resolve(Date.now()),
        (now) => now > notAfter + 250,
        'the agent certificate expired',
        15_000,
      );
      expect(obtained(agent).at(-1)!['serial']).toBe(serialBefore);
      expect(refused).toBeGreaterThan(0);
      expect(fallbackWarns(agent)).toHaveLength(0);

      // ... so a server restart on the same port makes the agent open a new one.
      await server.kill();
      const again = startCli('server', serverArgs(agentPort, 'second.sock'), SHORT);
      const adminPort = (await again.listening())['adminPort'] as number;

      const onToken = await eventually(
        () => agents(adminPort),
        (list) => list.length === 1 && list[0]!.authMethod === 'token',
        'agent back with its bootstrap token',
        20_000,
      );
      expect(onToken[0]!.id).toBe(CLUSTER);
      expect(onToken[0]!.identity).toBe(BOOTSTRAP_USER);
      const warns = fallbackWarns(agent);
      expect(warns).toHaveLength(1);
      expect(FALLBACK_WARN.exec(warns[0]!.message)![1]).toBe(new Date(notAfter).toISOString());
      expect(warns[0]!['serial']).toBe(serialBefore);
      expect(warns[0]!['tokenFile']).toBe(tokenFile);
      // The server never saw the expired certificate in a handshake.
      expect(again.lines.filter((l) => l.message === 'agent certificate refused in the TLS handshake')).toHaveLength(0);

      // The API takes the agent's CSRs again: the next retry renews through the token connection.
      heal();
      healed = true;
      const renewed = await agent.waitFor(
        (l) => l.message === 'obtained a new certificate' && l['serial'] !== serialBefore,
        'a new certificate after the fallback',
        30_000,
      );
      expect(Date.parse(renewed['notAfter'] as string)).toBeGreaterThan(Date.now());
      await agent.waitFor((l) => l.message === 'reconnecting with the issued certificate', 'the token connection closed for the certificate');
      const back = await eventually(
        () => agents(adminPort),
        (list) => list.length === 1 && list[0]!.authMethod === 'mtls',
        'agent back on mtls with only the certificate connection',
        20_000,
      );
      expect(back[0]!.identity).toBe(`tunnel-agent:${CLUSTER}`);
      // The same agent process throughout, and the warning only once.
      expect(agent.running).toBe(true);
      expect(agent.pid).toBe(agentPid);
      expect(agent.lines.filter((l) => l.message === 'listening')).toHaveLength(1);
      expect(fallbackWarns(agent)).toHaveLength(1);
    } finally {
      if (!healed) heal();
    }
  }, 60_000);
});
