/**
 * Drop-in: upstream's token authentication of agents, end to end.
 * `tunnel --mode=server` runs through the CLI with --agent-namespace,
 * --agent-service-account, --authentication-audience and --kubeconfig
 * pointing at the fake Kubernetes API (real TokenReviews through
 * @kubernetes/client-node). Agents are the real CLI agent with
 * --service-account-token-path, and a raw gRPC peer for metadata the real
 * agent never sends (none, or not "Bearer").
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel } from '../../src/client/index.js';
import { type CliProc, httpGet, metricSum, startCli, stopAll, waitStatus } from '../support/cli-procs.js';
import { CountingForwarder, readBytes } from '../support/dropin-peers.js';
import { EchoTarget } from '../support/agent-peers.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { TestAgent } from '../support/server-peers.js';

const AUDIENCE = 'system:konnectivity-server';
const EXPECTED_USER = 'system:serviceaccount:kube-system:konnectivity-agent';

let dir: string;
let pki: DevPkiFiles;
let fake: FakeKube;
let echo: EchoTarget;
let server: CliProc;
let ports: { agent: number; health: number; admin: number; uds: string };
const peers: TestAgent[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-token-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await EchoTarget.start();
  fake = await startFakeKube({ namespaces: ['tenant-a'] });
  for (const [namespace, name] of [
    ['kube-system', 'konnectivity-agent'],
    ['kube-system', 'someone-else'],
    ['tenant-a', 'konnectivity-agent'],
  ] as const) {
    fake.store.create('serviceaccounts', { metadata: { namespace, name } });
  }
  const uds = path.join(dir, 'konnectivity-server.socket');
  server = startCli('server', [
    '--mode=server',
    `--uds-name=${uds}`,
    '--agent-port=0',
    '--agent-bind-address=127.0.0.1',
    '--health-port=0',
    '--health-bind-address=127.0.0.1',
    '--admin-port=0',
    `--cluster-cert=${pki.serverCert}`,
    `--cluster-key=${pki.serverKey}`,
    '--agent-namespace=kube-system',
    '--agent-service-account=konnectivity-agent',
    `--authentication-audience=${AUDIENCE}`,
    `--kubeconfig=${fake.kubeconfigPath}`,
  ]);
  const l = await server.listening();
  ports = { agent: l['agentPort'] as number, health: l['healthPort'] as number, admin: l['adminPort'] as number, uds };
}, 120_000);

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  // Agents of one test must not serve the next one.
  await Promise.all(agentProcs.splice(0).map((p) => p.kill()));
});

afterAll(async () => {
  await stopAll();
  await fake.close();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const agentProcs: CliProc[] = [];

/** A token file with `content`; returns its path. */
let files = 0;
function tokenFile(content: string): string {
  const p = path.join(dir, `token-${files++}`);
  writeFileSync(p, content);
  return p;
}

/** Starts the real agent with a token file (no client certificate), retrying fast. */
async function startTokenAgent(id: string, tokenPath: string, agentPort = ports.agent): Promise<{ proc: CliProc; health: number }> {
  const proc = startCli(`agent ${id}`, [
    '--mode=agent',
    `--agent-id=${id}`,
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${agentPort}`,
    `--ca-cert=${pki.caCert}`,
    `--service-account-token-path=${tokenPath}`,
    '--sync-interval=100ms',
    '--sync-interval-cap=500ms',
    '--probe-interval=100ms',
    '--health-server-host=127.0.0.1',
    '--health-server-port=0',
    '--admin-server-port=0',
  ]);
  agentProcs.push(proc);
  const l = await proc.listening();
  return { proc, health: l['healthPort'] as number };
}

async function agentsView(): Promise<{ id: string; identity: string; authMethod: string }[]> {
  return (JSON.parse((await httpGet(ports.admin, '/agents')).body) as { agents: { id: string; identity: string; authMethod: string }[] }).agents;
}

/** Echoes through the server's Unix socket and whichever agent it picks. */
async function roundTrip(text: string): Promise<string> {
  const tunnel = await createTunnel({ uds: ports.uds });
  try {
    const sock = await tunnel.dial(echo.address);
    const back = readBytes(sock, text.length);
    sock.write(text);
    const got = (await back).toString();
    sock.destroy();
    return got;
  } finally {
    await tunnel.close();
  }
}

describe('drop-in: token authentication, what a Connect is told', () => {
  let intruders = 0;
  const refusals: [string, () => string | undefined, grpc.status, string, string][] = [
    ['no authorization metadata', () => undefined, grpc.status.UNAUTHENTICATED, 'missing "authorization" metadata', 'unauthenticated'],
    ['a value that is not a Bearer token', () => 'Basic a29ubmVjdGl2aXR5Og==', grpc.status.UNAUTHENTICATED, 'is not a Bearer token', 'unauthenticated'],
    ['a garbage token', () => 'Bearer not-a-token', grpc.status.UNAUTHENTICATED, `token not valid for audience ${AUDIENCE}`, 'unauthenticated'],
    [
      'a token for another audience',
      () => `Bearer ${fake.issueToken('kube-system', 'konnectivity-agent', { audiences: ['https://kubernetes.default.svc.cluster.local'] })}`,
      grpc.status.UNAUTHENTICATED,
      `token not valid for audience ${AUDIENCE}`,
      'unauthenticated',
    ],
    [
      'a token of another ServiceAccount',
      () => `Bearer ${fake.issueToken('kube-system', 'someone-else', { audiences: [AUDIENCE] })}`,
      grpc.status.PERMISSION_DENIED,
      `token is for system:serviceaccount:kube-system:someone-else, expected ${EXPECTED_USER}`,
      'forbidden',
    ],
    [
      'a token of the same ServiceAccount name in another namespace',
      () => `Bearer ${fake.issueToken('tenant-a', 'konnectivity-agent', { audiences: [AUDIENCE] })}`,
      grpc.status.PERMISSION_DENIED,
      `token is for system:serviceaccount:tenant-a:konnectivity-agent, expected ${EXPECTED_USER}`,
      'forbidden',
    ],
  ];

  it.each(refusals)('refuses %s with a clear gRPC error, a log line and a metric', async (_what, authorization, code, text, reason) => {
    const metricsBefore = metricSum((await httpGet(ports.health, '/metrics')).body, 'konnectivity_network_proxy_server_bad_input_total', { source: 'agent', reason });
    const auth = authorization();
    const agentID = `intruder-${++intruders}`;
    const peer = new TestAgent({ agentPort: ports.agent, tls: { caCert: pki.caCert }, agentID, ...(auth ? { authorization: auth } : {}) });
    peers.push(peer);
    const status = await peer.status;
    expect(status.code).toBe(code);
    expect(status.details).toContain(text);
    await expect(peer.headers).rejects.toThrow(); // refused before `serverid`/`servercount`
    const line = await server.waitFor((l) => l.message === 'agent refused' && l['agentID'] === agentID, 'agent refused');
    expect(line['error']).toContain(text);
    expect(line.level).toBe('warn');
    expect(JSON.stringify(line)).not.toContain(auth?.slice('Bearer '.length) || 'no token to leak');
    const metricsAfter = metricSum((await httpGet(ports.health, '/metrics')).body, 'konnectivity_network_proxy_server_bad_input_total', { source: 'agent', reason });
    expect(metricsAfter).toBe(metricsBefore + 1);
    expect((await agentsView()).map((a) => a.id)).not.toContain(agentID);
  });

  it('admits a Connect with a token of the agent ServiceAccount for the audience', async () => {
    const token = fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [AUDIENCE] });
    const peer = new TestAgent({ agentPort: ports.agent, tls: { caCert: pki.caCert }, agentID: 'raw-agent', authorization: `Bearer ${token}` });
    peers.push(peer);
    const headers = await peer.headers;
    expect(headers.get('servercount')).toEqual(['1']);
    expect(await agentsView()).toEqual([expect.objectContaining({ id: 'raw-agent', identity: EXPECTED_USER, authMethod: 'token' })]);
  });
});

describe('drop-in: the real agent with --service-account-token-path', () => {
  it('connects with a valid token and carries traffic; the server shows who it authenticated as', async () => {
    const file = tokenFile(fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [AUDIENCE] }));
    const { health } = await startTokenAgent('cluster-a', file);
    await waitStatus(health, '/readyz', 200);
    await waitStatus(ports.health, '/readyz', 200);
    expect(await agentsView()).toEqual([expect.objectContaining({ id: 'cluster-a', identity: EXPECTED_USER, authMethod: 'token' })]);
    expect(await roundTrip('through a token-authenticated agent')).toBe('through a token-authenticated agent');
  });

  it('with a token for the wrong audience stays unready and logs the server\'s reason', async () => {
    const file = tokenFile(fake.issueToken('kube-system', 'konnectivity-agent', { audiences: ['https://kubernetes.default.svc.cluster.local'] }));
    const { proc, health } = await startTokenAgent('cluster-b', file);
    const line = await proc.waitFor((l) => l.message === 'proxy server refused the connection', 'refusal logged');
    expect(line['error']).toMatch(new RegExp(`^server refused the connection \\(Unauthenticated\\): token not valid for audience ${AUDIENCE}`));
    expect((await httpGet(health, '/readyz')).status).toBe(503);
    expect((await agentsView()).map((a) => a.id)).not.toContain('cluster-b');
  });

  it('re-reads the token file on every connect: a rotated file is used after a reconnect, without a restart', async () => {
    const link = await CountingForwarder.start({ port: 0 }, { port: ports.agent });
    try {
      const file = tokenFile(fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [AUDIENCE] }));
      const { proc, health } = await startTokenAgent('cluster-r', file, (link.listen as { port: number }).port);
      await waitStatus(health, '/readyz', 200);
      expect((await agentsView()).map((a) => a.id)).toEqual(['cluster-r']);

      // Rotated to something the API does not know; the connection drops: the agent reconnects with it and is refused.
      writeFileSync(file, 'expired-or-revoked');
      link.dropAll();
      await proc.waitFor((l) => l.message === 'proxy server refused the connection', 'refused after the rotation to a bad token');
      await waitStatus(health, '/readyz', 503);
      expect((await agentsView()).map((a) => a.id)).toEqual([]);

      // Rotated again, to a fresh valid token: the next retry is admitted.
      const reviews = fake.requests.filter((r) => r.resource === 'tokenreviews').length;
      writeFileSync(file, fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [AUDIENCE] }));
      await waitStatus(health, '/readyz', 200);
      expect(await agentsView()).toEqual([expect.objectContaining({ id: 'cluster-r', identity: EXPECTED_USER })]);
      expect(fake.requests.filter((r) => r.resource === 'tokenreviews').length).toBeGreaterThan(reviews);
      expect(proc.running).toBe(true);
      expect(await roundTrip('after two rotations')).toBe('after two rotations');
    } finally {
      await link.close();
    }
  });
});
