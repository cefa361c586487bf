/**
 * Leases through the real CLI against the fake Kubernetes API: three replicas
 * with --enable-lease-controller behind the test balancer each publish their
 * Lease (holder, labels, namespace from the flags); an agent with
 * --count-server-leases holds one connection per live Lease. A replica
 * stopped with SIGTERM deletes its Lease, so the agent counts two; restarted,
 * it publishes it again and the agent is back to three.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { agentServers, type CliAgent, getJson, killAll, type Replica, startCliAgent, startReplica, until } from '../support/ha-procs.js';
import { TcpBalancer } from '../support/tcp-balancer.js';

const IDS = ['replica-a', 'replica-b', 'replica-c'];

let dir: string;
let pki: DevPkiFiles;
let fake: FakeKube;
let lb: TcpBalancer;
let replicas: Replica[];
let agent: CliAgent;

const serverFlags = (): string[] => [
  '--enable-lease-controller',
  `--kubeconfig=${fake.kubeconfigPath}`,
  '--lease-namespace=tunnel',
  '--lease-label=app=tunnel-ha,tier=proxy',
];

function leases(): { holder: string; labels: Record<string, string>; duration: number }[] {
  return fake.store
    .list('leases', { namespace: 'tunnel' })
    .map((l) => {
      const o = l as unknown as { metadata: { labels: Record<string, string> }; spec: { holderIdentity: string; leaseDurationSeconds: number } };
      return { holder: o.spec.holderIdentity, labels: o.metadata.labels, duration: o.spec.leaseDurationSeconds };
    })
    .sort((a, b) => a.holder.localeCompare(b.holder));
}

/** The agent's admin view: how many servers it wants and which it holds. */
async function agentView(): Promise<{ wanted: number; servers: string[] }> {
  const v = await getJson<{ wantedServers: number }>(agent.adminPort, '/connections');
  return { wanted: v?.wantedServers ?? -1, servers: await agentServers(agent) };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-ha-leases-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent' });
  fake = await startFakeKube({ namespaces: ['tunnel'] });
  replicas = await Promise.all(
    IDS.map((serverID) => startReplica({ pki, serverID, udsPath: path.join(dir, `${serverID}.sock`), extra: serverFlags() })),
  );
  lb = await TcpBalancer.start(replicas.map((r) => r.agentPort));
  agent = await startCliAgent({
    pki,
    agentID: 'agent-a',
    serverHost: '127.0.0.1',
    serverPort: lb.port,
    extra: [
      '--count-server-leases',
      `--kubeconfig=${fake.kubeconfigPath}`,
      '--lease-namespace=tunnel',
      '--lease-label-selector=app=tunnel-ha',
      '--sync-interval=200ms',
      '--sync-interval-cap=1s',
    ],
  });
}, 120_000);

afterAll(async () => {
  await killAll();
  await lb?.stop();
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Leases through the CLI', () => {
  it('each replica publishes its Lease; the agent holds one connection per live Lease', async () => {
    const labels = { app: 'tunnel-ha', tier: 'proxy' };
    await until(async () => leases(), (l) => l.length === 3, 'three Leases');
    expect(leases()).toEqual(IDS.map((holder) => ({ holder, labels, duration: 30 })));
    expect(await until(agentView, (v) => v.servers.length === 3, 'agent holding three servers')).toEqual({ wanted: 3, servers: IDS });
    // Each replica tells agents, and shows in its admin view, the number of live Leases.
    for (const r of replicas) {
      const v = await until(
        () => getJson<{ serverID: string; serverCount: number; ha: { source: string } }>(r.adminPort, '/agents'),
        (x) => x?.serverCount === 3,
        `${r.serverID} counting three Leases`,
      );
      expect({ serverID: v!.serverID, source: v!.ha.source }).toEqual({ serverID: r.serverID, source: 'leases' });
    }
  }, 120_000);

  it('a replica stopped with SIGTERM withdraws its Lease and the agent wants two; restarted, three again', async () => {
    const a = replicas[0]!;
    a.proc.signal('SIGTERM');
    expect(await a.proc.exited).toBe(0);
    expect(leases().map((l) => l.holder)).toEqual(['replica-b', 'replica-c']);
    expect(await until(agentView, (v) => v.wanted === 2 && v.servers.length === 2, 'agent wanting two')).toEqual({
      wanted: 2,
      servers: ['replica-b', 'replica-c'],
    });

    replicas[0] = await startReplica({ pki, serverID: 'replica-a', udsPath: a.udsPath, agentPort: a.agentPort, extra: serverFlags() });
    await until(async () => leases(), (l) => l.length === 3, 'the Lease published again');
    expect(await until(agentView, (v) => v.servers.length === 3, 'agent holding three again')).toEqual({ wanted: 3, servers: IDS });
  }, 120_000);
});
