/**
 * Drop-in: a long-lived upgraded connection (HTTP/1.1 `Upgrade`, as kubectl
 * exec/attach/port-forward use towards the kubelet) through every frontend
 * (gRPC tunnel and HTTP CONNECT, each over the Unix socket and the mTLS
 * port) stays idle for two minutes with short keepalives on, then still
 * carries bytes both ways. The four idles run at once.
 *
 * Server and agent run through the real CLI with --keepalive-time=10s,
 * --frontend-keepalive-time=10s and the agent's --keepalive-time=10s; the
 * clients' gRPC channels ping every 10 s too. grpc-js 1.14 servers have no
 * ping enforcement policy (they never answer pings with GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings"; only grpc-go servers do, with a 5 min
 * default and the 30 s MinTime upstream sets on its agent port), so 10 s
 * pings are safe against our server; the agent warns that upstream servers
 * would refuse them. Counting forwarders sit in front of the agent port and
 * of the gRPC frontends: bytes passing while the application is silent are
 * the keepalive pings.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { type CliAgent, type CliServer, httpGet, serverIdle, startAgent, startServer, stopAll, waitStatus } from '../support/cli-procs.js';
import { CountingForwarder, httpConnect, readBytes, UpgradeTarget, upgradeOver } from '../support/dropin-peers.js';

const IDLE_MS = 120_000;
const KEEPALIVE = '10s';
const CLIENT_KEEPALIVE = { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_permit_without_calls': 1 };

let dir: string;
let pki: DevPkiFiles;
let target: UpgradeTarget;
let server: CliServer;
let agent: CliAgent;
const forwarders: CountingForwarder[] = [];
const tunnels: Tunnel[] = [];
const sockets: Duplex[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-idle-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  target = await UpgradeTarget.start();
  server = await startServer({
    pki,
    uds: path.join(dir, 'konnectivity-server.socket'),
    tcp: true,
    extra: [`--keepalive-time=${KEEPALIVE}`, `--frontend-keepalive-time=${KEEPALIVE}`],
  });
  const agentLink = await fwd({ port: 0 }, { port: server.agentPort });
  agent = await startAgent({ pki, agentPort: (agentLink.listen as { port: number }).port, agentID: 'cluster-a', extra: [`--keepalive-time=${KEEPALIVE}`] });
  await waitStatus(server.healthPort, '/readyz', 200);
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(tunnels.map((t) => t.close().catch(() => undefined)));
  await stopAll();
  await Promise.all(forwarders.map((f) => f.close()));
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fwd(listen: { port: number } | { path: string }, to: { port: number } | { path: string }): Promise<CountingForwarder> {
  const f = await CountingForwarder.start(listen, to);
  forwarders.push(f);
  return f;
}

/** One upgraded connection through one frontend. */
interface Route {
  name: string;
  /** The forwarder this route's client connects through. */
  link: CountingForwarder;
  sock?: Duplex;
}

async function openGrpc(route: Route, endpoint: Parameters<typeof createTunnel>[0]): Promise<void> {
  const tunnel = await createTunnel({ ...endpoint, channelOptions: CLIENT_KEEPALIVE });
  tunnels.push(tunnel);
  route.sock = await tunnel.dial(target.address);
}

async function openHttp(route: Route): Promise<void> {
  const { status, socket, head } = await httpConnect(route.link.listen, pki, target.address);
  expect(status).toBe(200);
  expect(head.length).toBe(0);
  route.sock = socket;
}

describe('drop-in: long-lived upgraded connections', () => {
  it(
    'idle for two minutes through gRPC and HTTP CONNECT over the Unix socket and the mTLS port, then carry bytes both ways',
    async () => {
      const udsPath = server.udsPath!;
      const tcp = { port: server.frontendPort! };
      const routes: Route[] = [
        { name: 'grpc-uds', link: await fwd({ path: path.join(dir, 'grpc.sock') }, { path: udsPath }) },
        { name: 'grpc-tcp', link: await fwd({ port: 0 }, tcp) },
        { name: 'connect-uds', link: await fwd({ path: path.join(dir, 'connect.sock') }, { path: udsPath }) },
        { name: 'connect-tcp', link: await fwd({ port: 0 }, tcp) },
      ];
      const tlsOpts = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
      await openGrpc(routes[0]!, { uds: (routes[0]!.link.listen as { path: string }).path });
      await openGrpc(routes[1]!, { address: `127.0.0.1:${(routes[1]!.link.listen as { port: number }).port}`, tls: tlsOpts });
      await openHttp(routes[2]!);
      await openHttp(routes[3]!);

      const closedEarly: string[] = [];
      // Upgrade one at a time, so the target's i-th upgraded socket belongs to routes[i].
      for (const [i, r] of routes.entries()) {
        const sock = r.sock!;
        sockets.push(sock);
        const { status, rest } = await upgradeOver(sock, target.address);
        expect(status).toBe('HTTP/1.1 101 Switching Protocols');
        await target.upgradedCount(i + 1);
        sock.write(`hello ${r.name}`);
        expect((await readBytes(sock, `hello ${r.name}`.length, rest)).toString()).toBe(`hello ${r.name}`);
        sock.once('close', () => closedEarly.push(r.name));
      }
      const conns = JSON.parse((await httpGet(server.adminPort, '/connections')).body) as { established: { frontend: string }[] };
      expect(conns.established.map((c) => c.frontend).sort()).toEqual(['grpc', 'grpc', 'http', 'http']);

      const before = forwarders.map((f) => ({ up: f.up, down: f.down }));
      await new Promise((r) => setTimeout(r, IDLE_MS));
      const idle = forwarders.map((f, i) => ({ up: f.up - before[i]!.up, down: f.down - before[i]!.down }));

      // Keepalive pings flowed while the applications were silent: agent <-> server both ways, and on each gRPC frontend link.
      const agentLink = idle[0]!;
      expect(agentLink.up).toBeGreaterThan(0);
      expect(agentLink.down).toBeGreaterThan(0);
      for (const i of [1, 2]) {
        expect(idle[i]!.up).toBeGreaterThan(0);
        expect(idle[i]!.down).toBeGreaterThan(0);
      }

      expect(closedEarly).toEqual([]);
      // Both ways after the idle: the target speaks first, then the client.
      await Promise.all(
        routes.map(async (r, i) => {
          const sock = r.sock!;
          const push = `after two minutes, from the target to ${r.name}`;
          const got = readBytes(sock, push.length);
          target.upgraded[i]!.write(push);
          expect((await got).toString()).toBe(push);
          const pong = `and back from ${r.name}`;
          const echoed = readBytes(sock, pong.length);
          sock.write(pong);
          expect((await echoed).toString()).toBe(pong);
        }),
      );

      // Nobody was disconnected on the way.
      expect(server.proc.lines.filter((l) => /agent disconnected/.test(l.message))).toEqual([]);
      expect(agent.proc.lines.filter((l) => /proxy server connection closed/.test(l.message))).toEqual([]);
      expect(agent.proc.lines.some((l) => l.level === 'warn' && /--keepalive-time=10s is under 30s/.test(l.message))).toBe(true);

      for (const r of routes) r.sock!.destroy();
      await serverIdle(server);
    },
    IDLE_MS + 90_000,
  );
});
