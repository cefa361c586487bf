/**
 * Rotation under load, through the real CLI and the fake Kubernetes API:
 * server and agent in --cert-source=csr with a 6-second --cert-lifetime
 * (allowed by env TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1), so both renew every
 * 4–5 s. One paced transfer runs through the tunnel the whole time while
 * both certificates rotate at least three times; every byte arrives intact
 * both ways, and the agent's connection to the server is the same one from
 * start to end (renewed certificates are for new handshakes only).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTunnel } from '../../src/client/index.js';
import { type CliProc, type LogLine, eventually, startCli, stopAll, adminAgents as agents, type AdminAgentView as AgentView } from '../support/cli-procs.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { pacedExchange, startPacedTarget, type PacedTarget } from '../support/paced-transfer.js';

const SHORT = { TUNNEL_ALLOW_SHORT_CERT_LIFETIME: '1' };
const LIFETIME = '6s';
const ROTATIONS = 3;

let dir: string;
let fake: FakeKube;
let target: PacedTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'csr-rotation-'));
  fake = await startFakeKube();
  target = await startPacedTarget({ chunk: 64 * 1024, everyMs: 20 });
  for (const name of ['tunnel-server', 'tunnel-bootstrap-cluster-r']) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name } });
  }
});
afterEach(() => stopAll());
afterAll(async () => {
  await target.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

const obtained = (p: CliProc): LogLine[] => p.lines.filter((l) => l.message === 'obtained a new certificate');
const connects = (p: CliProc): LogLine[] => p.lines.filter((l) => l.message === 'connected to proxy server');
const closes = (p: CliProc): LogLine[] => p.lines.filter((l) => l.message === 'proxy server connection closed');

describe('certificate rotation during a running transfer', () => {
  it('server and agent certificates rotate 3+ times under a paced transfer: every byte intact both ways, the agent connection never re-established', async () => {
    const serverKubeconfig = fake.writeKubeconfig({ token: fake.issueToken('kube-system', 'tunnel-server', { expirationSeconds: 3600 }) });
    const uds = path.join(dir, 'frontend.sock');
    const server = startCli(
      'server',
      [
        '--mode=server',
        `--uds-name=${uds}`,
        '--agent-port=0',
        '--agent-bind-address=127.0.0.1',
        '--health-port=0',
        '--admin-port=0',
        '--cert-source=csr',
        `--cert-lifetime=${LIFETIME}`,
        `--kubeconfig=${serverKubeconfig}`,
        `--cert-dir=${path.join(dir, 'server-certs')}`,
      ],
      SHORT,
    );
    const listening = await server.listening();
    const adminPort = listening['adminPort'] as number;
    const secret = fake.store.get('secrets', 'kube-system', 'tunnel-ca') as unknown as { data: Record<string, string> };
    const caFile = path.join(dir, 'tunnel-ca.crt');
    writeFileSync(caFile, Buffer.from(secret.data['ca-bundle.crt']!, 'base64'));
    const tokenFile = path.join(dir, 'bootstrap-token');
    writeFileSync(tokenFile, fake.issueToken('kube-system', 'tunnel-bootstrap-cluster-r', { expirationSeconds: 3600 }));

    const agent = startCli(
      'agent',
      [
        '--mode=agent',
        '--proxy-server-host=127.0.0.1',
        `--proxy-server-port=${listening['agentPort'] as number}`,
        '--cert-source=csr',
        `--cert-lifetime=${LIFETIME}`,
        '--cluster-name=cluster-r',
        `--ca-cert=${caFile}`,
        `--bootstrap-token-path=${tokenFile}`,
        `--meta-kubeconfig=${fake.kubeconfigPath}`,
        `--cert-dir=${path.join(dir, 'agent-certs')}`,
        '--sync-interval=100ms',
        '--health-server-port=0',
        '--admin-server-port=0',
      ],
      SHORT,
    );
    const before = await eventually(
      () => agents(adminPort),
      (list) => list.length === 1 && list[0]!.authMethod === 'mtls' && list[0]!.streams.length === 1,
      'agent cluster-r connected with its certificate only',
      40_000,
    );
    const peer = before[0]!.streams[0]!.peer;
    // The server can drop the bootstrap-token stream before the agent's line about closing it has
    // reached this process; count from when the agent's log, too, shows one open connection.
    await eventually(
      () => Promise.resolve(connects(agent).length - closes(agent).length),
      (open) => open === 1,
      "the agent's log showing only the certificate connection open",
    );
    const agentConnects = connects(agent).length;
    const agentCloses = closes(agent).length;
    const agentCertsAtStart = obtained(agent).length;
    const serverCertsAtStart = obtained(server).length;

    // One connection, paced at 64 KiB per 20 ms each way, until both sides have rotated ROTATIONS times.
    const rotatedEnough = (): boolean =>
      obtained(agent).length - agentCertsAtStart >= ROTATIONS && obtained(server).length - serverCertsAtStart >= ROTATIONS;
    const tunnel = await createTunnel({ uds });
    let result;
    const during: AgentView[][] = [];
    try {
      const sock = await tunnel.dial(target.address);
      const sampling = setInterval(() => void agents(adminPort).then((v) => during.push(v)), 500);
      try {
        result = await pacedExchange(sock, target, { chunk: 64 * 1024, everyMs: 20 }, rotatedEnough);
      } finally {
        clearInterval(sampling);
      }
    } finally {
      await tunnel.close();
    }
    const record = await target.record(result.key);

    // Both directions: every byte, in order.
    expect(record.receivedBytes).toBe(result.sentBytes);
    expect(record.receivedSha).toBe(result.sentSha);
    expect(result.receivedBytes).toBe(record.sentBytes);
    expect(result.receivedSha).toBe(record.sentSha);
    expect(result.sentBytes).toBeGreaterThan(4 * 1024 * 1024);

    // The certificates did rotate while the transfer ran: new serials each time.
    const agentNew = obtained(agent).slice(agentCertsAtStart);
    const serverNew = obtained(server).slice(serverCertsAtStart);
    expect(agentNew.length).toBeGreaterThanOrEqual(ROTATIONS);
    expect(serverNew.length).toBeGreaterThanOrEqual(ROTATIONS);
    expect(new Set(agentNew.map((l) => l['serial'])).size).toBe(agentNew.length);
    // The signer capped them at its short --cert-lifetime: 6 s plus the 1.5 s notBefore backdate, in whole seconds.
    for (const l of agentNew) expect(Date.parse(l['notAfter'] as string) - Date.parse(l['notBefore'] as string)).toBeLessThanOrEqual(8_000);

    // Never reconnected: no new connection in the agent's log, and the server saw one stream from the same peer throughout.
    expect(connects(agent).length).toBe(agentConnects);
    expect(closes(agent).length).toBe(agentCloses);
    expect(during.length).toBeGreaterThan(5);
    for (const view of during) {
      expect(view).toHaveLength(1);
      expect(view[0]!.streams.map((s) => s.peer)).toEqual([peer]);
      expect(view[0]!.identity).toBe('tunnel-agent:cluster-r');
    }
    const after = await agents(adminPort);
    expect(after[0]!.streams.map((s) => s.peer)).toEqual([peer]);
    expect(after[0]!.streams[0]!.connectedSeconds).toBeGreaterThanOrEqual(Math.floor(result.durationMs / 1000) - 1);
  }, 60_000);
});
