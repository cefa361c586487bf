/**
 * Issue #8 through the real CLI: three server replicas (child processes)
 * behind the test round-robin balancer, two agents (one per cluster, routed
 * by `host=<cluster>` identifiers and the destHost strategy; each agent maps
 * its cluster name to 127.0.0.1 with --dial-alias).
 *
 * - Every agent holds one connection per replica, as each replica's and each
 *   agent's admin view shows; a client through any replica reaches every agent.
 * - SIGKILL of one replica: a transfer through another replica completes with
 *   its bytes verified, dials through the surviving replicas keep working,
 *   agents drop to two connections, and return to three once the replica is
 *   restarted with the same server id and port. The timings are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { EchoTarget } from '../support/agent-peers.js';
import {
  agentServers,
  type CliAgent,
  killAll,
  type Replica,
  replicaAgents,
  startCliAgent,
  startReplica,
  until,
} from '../support/ha-procs.js';
import { TcpBalancer } from '../support/tcp-balancer.js';

const IDS = ['replica-a', 'replica-b', 'replica-c'];
const ALL = [...IDS].sort();
/** The agents re-sync often, so that a returning replica is found quickly (upstream: 1s, cap 10s). */
const SYNC = ['--sync-interval=200ms', '--sync-interval-cap=1s', '--probe-interval=200ms'];

let dir: string;
let pki: DevPkiFiles;
let lb: TcpBalancer;
let replicas: Replica[];
let agents: CliAgent[];
let targets: Record<string, EchoTarget>;
let tunnels: Tunnel[] = [];

/** `cluster-x:<port of cluster-x's echo target>`: only agent-x can dial it. */
const addressOf = (cluster: string): string => `${cluster}:${targets[cluster]!.port}`;

async function tunnelTo(r: Replica): Promise<Tunnel> {
  const t = await createTunnel({ uds: r.udsPath });
  tunnels.push(t);
  return t;
}

/** Sends `size` random bytes to the echo target at `address` through `tunnel`; true when exactly they came back. */
async function echoes(tunnel: Tunnel, address: string, size = 64 * 1024): Promise<boolean> {
  const r = await pacedEcho(tunnel, address, size, size, 0);
  return r.sentSha === r.gotSha && r.bytes === size;
}

/** Writes `total` random bytes in `chunk`s, `pauseMs` apart, reading the echo; hashes of both directions. */
async function pacedEcho(
  tunnel: Tunnel,
  address: string,
  total: number,
  chunk: number,
  pauseMs: number,
  onProgress?: (received: number) => void,
): Promise<{ sentSha: string; gotSha: string; bytes: number }> {
  const sock = await tunnel.dial(address, { timeoutMs: 10_000 });
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (b: Buffer) => {
      got.update(b);
      received += b.length;
      onProgress?.(received);
      if (received >= total) resolve();
    });
    sock.once('error', reject);
    sock.once('close', () => (received >= total ? resolve() : reject(new Error(`closed after ${received} of ${total} bytes`))));
  });
  const write = async (): Promise<void> => {
    for (let off = 0; off < total; off += chunk) {
      const b = randomBytes(Math.min(chunk, total - off));
      sent.update(b);
      if (!sock.write(b)) await new Promise((r) => sock.once('drain', r));
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all([write(), done]);
  sock.end();
  return { sentSha: sent.digest('hex'), gotSha: got.digest('hex'), bytes: received };
}

/** Every agent's admin view holds connections to exactly `ids`. */
function agentsHold(ids: string[]): Promise<string[][]> {
  return until(
    () => Promise.all(agents.map((a) => agentServers(a))),
    (v) => v.every((s) => JSON.stringify(s) === JSON.stringify(ids)),
    `every agent connected to ${ids.join(', ')}`,
    60_000,
  );
}

/** The replica's admin view lists both agents, each with one stream. */
function replicaHoldsBoth(r: Replica): Promise<Record<string, number>> {
  return until(() => replicaAgents(r), (v) => v['agent-a'] === 1 && v['agent-b'] === 1, `${r.serverID} holding both agents`, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-ha-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent' });
  targets = { 'cluster-a': await EchoTarget.start(), 'cluster-b': await EchoTarget.start() };
  replicas = await Promise.all(
    IDS.map((serverID) =>
      startReplica({
        pki,
        serverID,
        udsPath: path.join(dir, `${serverID}.sock`),
        extra: ['--server-count=3', '--proxy-strategies=destHost,default'],
      }),
    ),
  );
  lb = await TcpBalancer.start(replicas.map((r) => r.agentPort));
  agents = await Promise.all(
    ['a', 'b'].map((x) =>
      startCliAgent({
        pki,
        agentID: `agent-${x}`,
        serverHost: '127.0.0.1',
        serverPort: lb.port,
        extra: [`--agent-identifiers=host=cluster-${x}`, `--dial-alias=cluster-${x}=127.0.0.1`, ...SYNC],
      }),
    ),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(tunnels.map((t) => t.close().catch(() => undefined)));
  await killAll();
  await lb?.stop();
  await Promise.all(Object.values(targets ?? {}).map((t) => t.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('three replicas behind one balancer, two agents', () => {
  it('every agent holds one connection per replica, and a client through any replica reaches every agent', async () => {
    await agentsHold(ALL);
    for (const r of replicas) expect(await replicaHoldsBoth(r)).toEqual({ 'agent-a': 1, 'agent-b': 1 });
    // The balancer spread the agents' connections over all three replicas.
    for (const r of replicas) expect(lb.counts(r.agentPort).open).toBe(2);
    for (const r of replicas) {
      const t = await tunnelTo(r);
      for (const cluster of ['cluster-a', 'cluster-b']) {
        expect({ via: r.serverID, cluster, echoed: await echoes(t, addressOf(cluster)) }).toEqual({ via: r.serverID, cluster, echoed: true });
      }
    }
  }, 120_000);

  it('SIGKILL of one replica: the others carry on untouched; agents drop to two and return to three when it restarts', async () => {
    await agentsHold(ALL);
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const viaB = await tunnelTo(b);
    const viaC = await tunnelTo(c);

    // Dials through the surviving replicas, one after another, for the whole kill/restart window.
    const probes: { ok: boolean; via: string; cluster: string; error?: string }[] = [];
    let probing = true;
    const probeLoop = (async () => {
      const routes = [
        ['replica-b', viaB, 'cluster-a'],
        ['replica-c', viaC, 'cluster-b'],
        ['replica-b', viaB, 'cluster-b'],
        ['replica-c', viaC, 'cluster-a'],
      ] as const;
      for (let i = 0; probing; i++) {
        const [via, t, cluster] = routes[i % routes.length]!;
        try {
          probes.push({ ok: await echoes(t, addressOf(cluster), 4096), via, cluster });
        } catch (e) {
          probes.push({ ok: false, via, cluster, error: (e as Error).message });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // A 4 MiB transfer through replica B, paced so that it is half-way when A dies.
    const total = 4 * 1024 * 1024;
    let halfway!: () => void;
    const half = new Promise<void>((r) => (halfway = r));
    const transfer = pacedEcho(viaB, addressOf('cluster-a'), total, 32 * 1024, 5, (n) => n >= total / 2 && halfway());
    await half;

    const tKill = performance.now();
    await a.proc.kill();
    await agentsHold(ALL.filter((id) => id !== 'replica-a'));
    const tDropped = performance.now();

    const moved = await transfer;
    expect(moved).toEqual({ sentSha: moved.sentSha, gotSha: moved.sentSha, bytes: total });

    // Same server id, same agent port (the balancer still lists it), same socket path.
    const tRestart0 = performance.now();
    const a2 = await startReplica({
      pki,
      serverID: 'replica-a',
      udsPath: a.udsPath,
      agentPort: a.agentPort,
      extra: ['--server-count=3', '--proxy-strategies=destHost,default'],
    });
    replicas[0] = a2;
    const tListening = performance.now();
    await agentsHold(ALL);
    await replicaHoldsBoth(a2);
    const tBack = performance.now();

    const viaA = await tunnelTo(a2);
    for (const cluster of ['cluster-a', 'cluster-b']) expect(await echoes(viaA, addressOf(cluster))).toBe(true);
    const tServing = performance.now();

    probing = false;
    await probeLoop;
    const lost = probes.filter((p) => !p.ok);
    const ms = (x: number): number => Math.round(x);
    // Printed for the report: how long each step took, and how many dials through the survivors failed.
    console.log(
      [
        'HA kill/restart of replica-a (3 replicas, 2 agents, sync-interval 200ms, cap 1s):',
        `  agents dropped to 2 connections ${ms(tDropped - tKill)} ms after SIGKILL`,
        `  4 MiB transfer through replica-b during the kill: ${moved.bytes} bytes, sha256 verified`,
        `  restarted replica-a listening after ${ms(tListening - tRestart0)} ms`,
        `  both agents back to 3 connections ${ms(tBack - tListening)} ms after it was listening (${ms(tBack - tKill)} ms after the kill)`,
        `  dials through replica-a reach both agents ${ms(tServing - tListening)} ms after it was listening`,
        `  dials through replica-b/replica-c meanwhile: ${probes.length}, lost: ${lost.length}`,
      ].join('\n'),
    );
    expect(lost).toEqual([]);
    expect(probes.length).toBeGreaterThan(0);
  }, 180_000);
});
