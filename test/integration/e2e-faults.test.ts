/**
 * Issue #2, "bad input and faults", through the built CLI as child
 * processes: an agent killed mid-transfer, a dial to a closed port, bad
 * input from raw clients and a raw agent against the running server, and the
 * agent's two-phase SIGTERM. After each scenario the server's and agent's
 * admin views hold no connection and no pending dial.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, DialError, type Tunnel, type TunnelSocket } from '../../src/client/index.js';
import { closeReq, data, encodePacket, PacketType } from '../../src/protocol/index.js';
import {
  agentIdle,
  type CliAgent,
  type CliServer,
  eventually,
  httpGet,
  type LogLine,
  metricSum,
  metrics,
  serverAgents,
  serverCounts,
  serverIdle,
  startAgent,
  startServer,
  stopAll,
  waitStatus,
} from '../support/cli-procs.js';
import { exchange, type HashTarget, startHashTarget } from '../support/hash-target.js';
import { startEchoServer, TestAgent, TestProxyClient } from '../support/server-peers.js';

const BAD_INPUT = 'konnectivity_network_proxy_server_bad_input_total';

let dir: string;
let pki: DevPkiFiles;
let server: CliServer;
let agent: CliAgent;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let tunnel: Tunnel | undefined;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-e2e-faults-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await startEchoServer();
  server = await startServer({ pki, uds: path.join(dir, 'konnectivity-server.socket'), tcp: true });
  agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
  await waitStatus(server.healthPort, '/readyz', 200);
  await waitStatus(agent.healthPort, '/readyz', 200);
  tunnel = await createTunnel({ uds: server.udsPath! });
}, 60_000);

afterEach(async () => {
  await tunnel?.close().catch(() => undefined);
  tunnel = undefined;
  await stopAll();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `size` bytes on an echo connection and checks they come back unchanged. */
async function roundTrip(sock: TunnelSocket, size: number): Promise<void> {
  const out = Buffer.alloc(size, Math.floor(Math.random() * 256));
  const back: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      back.push(c);
      got += c.length;
      if (got >= size) {
        sock.off('data', onData);
        sock.off('error', reject);
        resolve();
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(out);
  });
  expect(Buffer.concat(back).equals(out)).toBe(true);
}

/**
 * Keeps an echo connection busy: 32 KiB out, 32 KiB back, over and over
 * (bounded), until the socket fails or closes. Resolves with when and how it
 * ended.
 */
function keepBusy(sock: TunnelSocket, busy: () => void): Promise<{ at: number; error: Error | undefined }> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let rounds = 0;
    let pending = 0;
    const chunk = Buffer.alloc(32 * 1024, 7);
    const next = (): void => {
      if (sock.destroyed || rounds++ > 200_000) return;
      pending = chunk.length;
      sock.write(chunk);
    };
    sock.on('data', (c: Buffer) => {
      pending -= c.length;
      if (pending <= 0) {
        if (rounds === 8) busy();
        next();
      }
    });
    sock.on('error', (e) => (error = e));
    sock.on('close', () => resolve({ at: performance.now(), error }));
    next();
  });
}

/** Warn lines of the server with this message whose peer is (or matches) `peer`. */
function warnsWithPeer(lines: LogLine[], message: string, peer: string | RegExp): LogLine[] {
  const ok = (p: unknown): boolean => typeof p === 'string' && (typeof peer === 'string' ? p === peer : peer.test(p));
  return lines.filter((l) => l.level === 'warn' && l.message === message && ok(l['peer']));
}

describe('agent killed (SIGKILL) in the middle of transfers', () => {
  it('every client sees an error within 1 s, the server releases everything, and a new agent serves new dials', async () => {
    const N = 6;
    const sockets: TunnelSocket[] = [];
    for (let i = 0; i < N; i++) sockets.push(await tunnel!.dial(echo.address));
    let busyCount = 0;
    let allBusy!: () => void;
    const busy = new Promise<void>((r) => (allBusy = r));
    const ends = sockets.map((s) =>
      keepBusy(s, () => {
        if (++busyCount === N) allBusy();
      }),
    );
    await busy;
    expect((await serverCounts(server)).established).toBe(N);

    const killedAt = performance.now();
    agent.proc.signal('SIGKILL');
    const results = await Promise.all(ends);
    for (const r of results) {
      expect(r.error).toBeInstanceOf(Error);
      expect(r.error!.message).toMatch(/agent "cluster-a" disconnected/);
      expect(r.at - killedAt).toBeLessThan(1000);
    }
    await agent.proc.exited;

    // Nothing is held: no agent, no connection, no pending dial, no client stream.
    expect(await serverIdle(server)).toMatchObject({ agents: 0, agentStreams: 0, pendingDials: 0, established: 0 });
    expect((await serverAgents(server)).length).toBe(0);
    await eventually(async () => echo.sockets.size, (n) => n === 0, 'target sockets closed');
    const ready = await httpGet(server.healthPort, '/readyz');
    expect(ready.status).toBe(500);
    expect(ready.body).toContain('no connection to any proxy agent');
    expect(server.proc.running).toBe(true);

    // A new dial now fails cleanly, and a new agent serves new dials.
    await expect(tunnel!.dial(echo.address)).rejects.toMatchObject({ reason: 'endpoint', endpointError: 'No agent available' });
    const again = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    await waitStatus(server.healthPort, '/readyz', 200);
    const sock = await tunnel!.dial(echo.address);
    await roundTrip(sock, 100_000);
    sock.end();
    await new Promise((r) => sock.once('close', r));
    expect(await serverIdle(server)).toMatchObject({ agents: 1, established: 0, pendingDials: 0 });
    expect(await agentIdle(again)).toMatchObject({ endpointConnections: 0, pendingDials: 0 });
  }, 60_000);
});

describe('dial to a closed port', () => {
  it("rejects dial() with reason endpoint and the agent's Go-like dial error", async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));

    const err = (await tunnel!.dial(`127.0.0.1:${port}`).catch((e: unknown) => e)) as DialError;
    expect(err).toBeInstanceOf(DialError);
    expect(err.reason).toBe('endpoint');
    expect(err.endpointError).toBe(`dial tcp 127.0.0.1:${port}: connect: connection refused`);
    expect(err.message).toContain(`dial tcp 127.0.0.1:${port}: connect: connection refused`);

    expect(await serverIdle(server)).toMatchObject({ agents: 1, pendingDials: 0, established: 0 });
    expect(await agentIdle(agent)).toMatchObject({ endpointConnections: 0, pendingDials: 0 });
    const m = await metrics(server.healthPort);
    expect(metricSum(m, 'konnectivity_network_proxy_server_dial_failure_count', { reason: 'error_response' })).toBe(1);
  }, 60_000);
});

describe('bad input against the running server', () => {
  let target: HashTarget;
  beforeEach(async () => {
    target = await startHashTarget(4 * 1024 * 1024);
  });
  afterEach(async () => {
    await target.close();
  });

  it('closes only the offending stream, with a reason, a warn line naming the peer and a metric; everyone else goes on', async () => {
    const uds = server.udsPath!;
    // Alongside: a long-lived echo connection and a 4 MiB exchange in both directions.
    const victim = await tunnel!.dial(echo.address);
    victim.on('error', () => undefined);
    await roundTrip(victim, 64 * 1024);
    const transfer = exchange(await tunnel!.dial(target.address), 4 * 1024 * 1024);
    transfer.catch(() => undefined);

    // 1. A malformed frame from a client.
    const c1 = new TestProxyClient({ uds });
    c1.call.write(Buffer.from([0x08, 0x04, 0x22, 0x09, 0x08])); // DATA whose submessage runs past the frame
    const s1 = await c1.status;
    c1.close();
    expect(s1.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s1.details).toMatch(/malformed packet/);

    // ... and one through the mTLS TCP frontend.
    const c1t = new TestProxyClient({
      port: server.frontendPort!,
      tls: { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey },
    });
    c1t.call.write(Buffer.from([0xff]));
    const s1t = await c1t.status;
    c1t.close();
    expect(s1t.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s1t.details).toMatch(/malformed packet/);

    // 2. A packet without its submessage (DATA, type 4, and nothing else), on an established connection.
    const c2 = new TestProxyClient({ uds });
    const rsp2 = await c2.dial(echo.address);
    expect(rsp2.error).toBe('');
    c2.call.write(Buffer.from([0x08, 0x04]));
    const s2 = await c2.status;
    c2.close();
    expect(s2.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s2.details).toBe('packet of type 4 must carry data, got no payload');

    // 3. DATA for another client's connection, on a stream that never dialed.
    const c3 = new TestProxyClient({ uds });
    c3.stream.write(data(victim.connectID, Buffer.from('not yours')));
    const s3 = await c3.status;
    c3.close();
    expect(s3.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s3.details).toBe('the first packet on a stream must be DIAL_REQ, got DATA');

    // 4. DATA and CLOSE_REQ for another client's connection from clients with their own:
    //    upstream's answer, CLOSE_RSP "mismatched connection IDs"; their own connection is closed.
    for (const bad of [data(victim.connectID, Buffer.from('not yours')), closeReq(victim.connectID)]) {
      const c = new TestProxyClient({ uds });
      const rsp = await c.dial(echo.address);
      expect(rsp.error).toBe('');
      expect(rsp.connectID).not.toBe(victim.connectID);
      c.stream.write(bad);
      const p = await c.reader.next();
      expect(p.type).toBe(PacketType.CLOSE_RSP);
      if (p.type === PacketType.CLOSE_RSP) {
        expect(p.closeResponse).toEqual({ connectID: rsp.connectID, error: 'mismatched connection IDs' });
      }
      c.close();
      expect((await c.status).code).toBe(grpc.status.OK);
    }

    // 5. A malformed frame from an agent (a second, raw agent; the real one is busy).
    const rogue = new TestAgent({
      agentPort: server.agentPort,
      agentID: 'rogue',
      tls: { caCert: pki.caCert, cert: pki.agentCert, key: pki.agentKey },
    });
    await rogue.headers;
    await eventually(() => serverAgents(server), (a) => a.length === 2, 'rogue agent registered');
    rogue.call.write(encodePacket({ type: PacketType.DRAIN, drain: {} }).subarray(0, 3)); // cut short
    const s5 = await rogue.status;
    rogue.close();
    expect(s5.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s5.details).toMatch(/malformed packet/);
    await eventually(() => serverAgents(server), (a) => a.length === 1 && a[0]!.id === 'cluster-a', 'rogue agent gone');

    // Everyone else went on: the transfer completes intact, the victim still echoes.
    const r = await transfer;
    await target.allClosed();
    const t = target.records.get(r.key)!;
    expect(t.receivedSha).toBe(r.sentSha);
    expect(r.receivedSha).toBe(t.sentSha);
    await roundTrip(victim, 64 * 1024);
    expect(victim.destroyed).toBe(false);

    // Logs name the peer; the bad-input metric counted each.
    // A Unix socket client is named by the socket it came through; an agent by its address (and its id).
    const lines = server.proc.lines;
    const client = `unix:${uds}`;
    expect(warnsWithPeer(lines, 'malformed packet from client; stream closed', client)).toHaveLength(2);
    const tlsClient = /^127\.0\.0\.1:\d+ \(CN=tunnel-frontend-client\)$/;
    expect(warnsWithPeer(lines, 'malformed packet from client; stream closed', tlsClient)).toHaveLength(1);
    expect(warnsWithPeer(lines, 'bad input from client', client)).toHaveLength(1);
    expect(warnsWithPeer(lines, 'client used a connection ID that is not its own', client)).toHaveLength(2);
    const agentWarn = warnsWithPeer(lines, 'malformed packet from agent; stream closed', /^127\.0\.0\.1:\d+$/);
    expect(agentWarn).toHaveLength(1);
    expect(agentWarn[0]!['agentID']).toBe('rogue');
    const m = await metrics(server.healthPort);
    expect(metricSum(m, BAD_INPUT, { source: 'client', reason: 'ERR_MALFORMED_PACKET' })).toBe(2);
    expect(metricSum(m, BAD_INPUT, { source: 'client', reason: 'ERR_MISSING_PAYLOAD' })).toBe(1);
    expect(metricSum(m, BAD_INPUT, { source: 'client', reason: 'first_packet' })).toBe(1);
    expect(metricSum(m, BAD_INPUT, { source: 'client', reason: 'mismatched_connect_id' })).toBe(2);
    expect(metricSum(m, BAD_INPUT, { source: 'agent', reason: 'ERR_MALFORMED_PACKET' })).toBe(1);

    victim.end();
    await new Promise((res) => victim.once('close', res));
    expect(await serverIdle(server)).toMatchObject({ agents: 1, agentStreams: 1, pendingDials: 0, established: 0 });
    expect(await agentIdle(agent)).toMatchObject({ servers: 1, endpointConnections: 0, pendingDials: 0 });
    expect(server.proc.running).toBe(true);
  }, 60_000);
});

describe('agent SIGTERM', () => {
  it('the first drains (the server sees DRAIN, the agent turns not ready, open connections go on); the second exits', async () => {
    const sock = await tunnel!.dial(echo.address);
    sock.on('error', () => undefined);
    await roundTrip(sock, 10_000);

    agent.proc.signal('SIGTERM');
    await eventually(() => serverAgents(server), (a) => a.length === 1 && a[0]!.draining, 'the server to see DRAIN');
    const ready = await waitStatus(agent.healthPort, '/readyz', 503);
    expect(ready).toContain('agent is draining');
    expect((await httpGet(agent.healthPort, '/healthz')).status).toBe(200);
    expect(agent.proc.running).toBe(true);
    // Open connections continue; the only agent, though draining, still takes new dials (upstream).
    await roundTrip(sock, 10_000);
    const late = await tunnel!.dial(echo.address);
    await roundTrip(late, 10_000);
    late.end();
    await new Promise((r) => late.once('close', r));

    agent.proc.signal('SIGTERM');
    expect(await agent.proc.exited).toBe(0);
    await new Promise((r) => (sock.destroyed ? r(undefined) : sock.once('close', r)));
    expect(await serverIdle(server)).toMatchObject({ agents: 0, pendingDials: 0, established: 0 });
    expect((await httpGet(server.healthPort, '/readyz')).status).toBe(500);
  }, 60_000);
});
