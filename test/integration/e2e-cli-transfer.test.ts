/**
 * Issue #2, "must show": the built CLI as child processes (a server with a
 * Unix socket and an ephemeral mTLS frontend, an mTLS agent), a TCP target
 * in this process, and 100 concurrent tunneled connections through the
 * TypeScript client, each sending 1 MiB of random bytes and receiving 1 MiB
 * of the target's own random bytes, SHA-256 checked in both directions. Once
 * over the Unix socket, once over mTLS TCP; after each, the server's and the
 * agent's admin views hold no connection and no pending dial. Then single
 * connections moving 8 MiB in both directions at once on each frontend:
 * when every hop writes full HTTP/2 windows both ways at the same time,
 * nothing may deadlock (Node's HTTP/2 stops reading while its own write is
 * pending, so windows larger than the socket buffers can wedge a connection).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import {
  agentIdle,
  type CliAgent,
  type CliServer,
  metricSum,
  metrics,
  serverCounts,
  serverIdle,
  startAgent,
  startServer,
  stopAll,
  waitStatus,
} from '../support/cli-procs.js';
import { exchange, type HashTarget, startHashTarget } from '../support/hash-target.js';

const MiB = 1024 * 1024;
const CONNECTIONS = 100;
const BIG = 8 * MiB;

let dir: string;
let pki: DevPkiFiles;
let target: HashTarget;
let bigTarget: HashTarget;
let server: CliServer;
let agent: CliAgent;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-e2e-transfer-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  target = await startHashTarget(MiB);
  bigTarget = await startHashTarget(BIG);
  server = await startServer({ pki, uds: path.join(dir, 'konnectivity-server.socket'), tcp: true });
  agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
  await waitStatus(server.healthPort, '/readyz', 200);
  await waitStatus(agent.healthPort, '/readyz', 200);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await target?.close();
  await bigTarget?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs CONNECTIONS concurrent exchanges through `tunnel` and checks every byte both ways. */
async function transfer(tunnel: Tunnel): Promise<void> {
  const before = target.records.size;
  const results = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => exchange(await tunnel.dial(target.address), MiB)),
  );
  await target.allClosed();
  expect(target.records.size - before).toBe(CONNECTIONS);
  let verified = 0;
  for (const r of results) {
    const t = target.records.get(r.key);
    expect(t).toBeDefined();
    // client → target: everything arrived, unchanged, nothing more.
    expect(t!.receivedBytes).toBe(MiB);
    expect(t!.receivedSha).toBe(r.sentSha);
    // target → client: everything arrived, unchanged, nothing more.
    expect(r.receivedBytes).toBe(MiB);
    expect(r.receivedSha).toBe(t!.sentSha);
    verified++;
  }
  expect(verified).toBe(CONNECTIONS);
}

function mtlsTunnel(): Promise<Tunnel> {
  return createTunnel({
    address: `127.0.0.1:${server.frontendPort!}`,
    tls: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
  });
}

async function expectEverythingReleased(): Promise<void> {
  const s = await serverIdle(server);
  expect(s).toMatchObject({ agents: 1, pendingDials: 0, established: 0, frontendStreams: 0, httpConnections: 0 });
  expect(await agentIdle(agent)).toMatchObject({ servers: 1, endpointConnections: 0, pendingDials: 0 });
  const m = await metrics(server.healthPort);
  expect(metricSum(m, 'konnectivity_network_proxy_server_established_connections')).toBe(0);
  expect(metricSum(m, 'konnectivity_network_proxy_server_pending_backend_dials')).toBe(0);
}

describe('100 concurrent 1 MiB exchanges through the CLI server and agent', () => {
  it('over the Unix socket frontend: every byte arrives unchanged both ways, then nothing is held', async () => {
    const tunnel = await createTunnel({ uds: server.udsPath! });
    try {
      await transfer(tunnel);
    } finally {
      await tunnel.close();
    }
    await expectEverythingReleased();
  }, 60_000);

  it('over the mTLS TCP frontend: every byte arrives unchanged both ways, then nothing is held', async () => {
    const tunnel = await mtlsTunnel();
    try {
      await transfer(tunnel);
    } finally {
      await tunnel.close();
    }
    await expectEverythingReleased();
    // Both runs went through the one agent: 200 dials, all answered.
    const m = await metrics(server.healthPort);
    expect(metricSum(m, 'konnectivity_network_proxy_server_dial_duration_seconds_count')).toBe(2 * CONNECTIONS);
    expect(metricSum(m, 'konnectivity_network_proxy_server_dial_failure_count')).toBe(0);
    expect((await serverCounts(server)).agents).toBe(1);
  }, 60_000);

  it.each([
    ['the Unix socket', (): Promise<Tunnel> => createTunnel({ uds: server.udsPath! })],
    ['mTLS TCP', mtlsTunnel],
  ])('over %s: one connection sends and receives 8 MiB at the same time', async (_name, open) => {
    const tunnel = await open();
    try {
      const r = await exchange(await tunnel.dial(bigTarget.address), BIG);
      await bigTarget.allClosed();
      const t = bigTarget.records.get(r.key)!;
      expect(t.receivedBytes).toBe(BIG);
      expect(t.receivedSha).toBe(r.sentSha);
      expect(r.receivedSha).toBe(t.sentSha);
    } finally {
      await tunnel.close();
    }
    await expectEverythingReleased();
  }, 60_000);

  it('server and agent wrote only JSON log lines (nothing raw on stderr, not even Node warnings)', () => {
    for (const p of [server.proc, agent.proc]) {
      expect(p.lines.filter((l) => l.level === 'raw').map((l) => l.message)).toEqual([]);
      expect(p.lines.length).toBeGreaterThan(0);
    }
  });
});
