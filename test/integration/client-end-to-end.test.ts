/**
 * The client library against the real TunnelServer and TunnelAgent, in
 * process: frontend over a Unix socket and over mTLS TCP, agent over mTLS.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { TunnelAgent, defaultAgentConfig } from '../../src/agent/index.js';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createHttpAgent, createTunnel, DialError, type Tunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { TunnelServer } from '../../src/server/index.js';
import { testServerConfig } from '../support/server-peers.js';
import { readAll, readExactly, sha256, startEcho, startTcpTarget, type TcpTarget, tempDir } from '../unit/client/helpers.js';

const MiB = 1024 * 1024;

let dir: string;
let pki: DevPkiFiles;
let echo: TcpTarget;
let udsTunnel: Tunnel;
let tcpTunnel: Tunnel;
const stacks: Stack[] = [];
const read = (f: string): string => fs.readFileSync(f, 'utf8');

/** A server with one connected agent. */
interface Stack {
  server: TunnelServer;
  agent: TunnelAgent;
  udsPath: string | undefined;
  frontendPort: number | undefined;
}

/** The server has no "agent connected" event: check its stats in a bounded loop. */
async function untilAgentConnected(s: TunnelServer): Promise<void> {
  for (let i = 0; i < 500 && s.stats().agents === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(s.stats().agents).toBe(1);
}

/** Starts a TunnelServer with a Unix-socket frontend or an mTLS TCP one, and a TunnelAgent connected to it. */
async function startStack(frontend: 'uds' | 'mtls'): Promise<Stack> {
  const server = new TunnelServer(
    testServerConfig(pki, frontend === 'uds' ? { udsName: path.join(dir, 'frontend.sock') } : {}),
    { logger: silentLogger(), registry: newRegistry(false) },
  );
  const addrs = await server.start();
  const agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'agent-1',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: addrs.agentPort,
      caCert: pki.caCert,
      agentCert: pki.agentCert,
      agentKey: pki.agentKey,
      healthServerPort: -1,
      adminServerPort: -1,
      allowEphemeralPorts: true,
    }),
    { logger: silentLogger(), registry: newRegistry(false) },
  );
  const stack = { server, agent, udsPath: addrs.udsPath, frontendPort: addrs.frontendPort };
  stacks.push(stack);
  await agent.start();
  await untilAgentConnected(server);
  return stack;
}

beforeAll(async () => {
  dir = tempDir();
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent-1' });
  echo = await startEcho();
  const uds = await startStack('uds');
  const tcp = await startStack('mtls');
  udsTunnel = await createTunnel({ uds: uds.udsPath! });
  tcpTunnel = await createTunnel({
    address: `localhost:${tcp.frontendPort!}`,
    tls: { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) },
  });
});

afterAll(async () => {
  await udsTunnel?.close();
  await tcpTunnel?.close();
  for (const s of stacks) {
    await s.agent.stop();
    await s.server.shutdown({ graceful: false });
  }
  await echo?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('client -> TunnelServer -> TunnelAgent', () => {
  it.each(['uds', 'mtls'] as const)('moves 1 MiB each way intact over the %s frontend, then closes cleanly', async (kind) => {
    const tunnel = kind === 'uds' ? udsTunnel : tcpTunnel;
    const toTarget = randomBytes(MiB);
    const fromTarget = randomBytes(MiB);
    let targetGot: Promise<Buffer> | undefined;
    const target = await startTcpTarget((s) => {
      targetGot = readExactly(s, MiB);
      s.write(fromTarget);
    });
    try {
      const sock = await tunnel.dial(target.address);
      const got = readExactly(sock, MiB);
      sock.write(toTarget);
      expect(sha256(await got)).toBe(sha256(fromTarget));
      expect(sha256(await targetGot!)).toBe(sha256(toTarget));
      sock.end();
      await once(sock, 'finish');
      await tunnel.idle();
    } finally {
      await target.close();
    }
  });

  it("reports the agent's dial error text", async () => {
    const refused = await startTcpTarget(() => undefined);
    const port = refused.port;
    await refused.close();
    const err = await udsTunnel.dial(`127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DialError);
    expect(err).toMatchObject({ reason: 'endpoint', endpointError: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
  });

  it('runs 20 connections at once and delivers remote data then EOF', async () => {
    const payload = randomBytes(200 * 1024);
    const target = await startTcpTarget((s) => s.end(payload));
    try {
      const socks = await Promise.all(Array.from({ length: 20 }, () => udsTunnel.dial(target.address)));
      const bodies = await Promise.all(socks.map((s) => readAll(s)));
      for (const b of bodies) expect(sha256(b)).toBe(sha256(payload));
      await udsTunnel.idle();
    } finally {
      await target.close();
    }
  });

  it('serves HTTP through createHttpAgent with keep-alive', async () => {
    let connections = 0;
    const web = http.createServer((req, res) => res.end(`hello ${req.url}`));
    web.on('connection', () => connections++);
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const port = (web.address() as net.AddressInfo).port;
    const httpAgent = createHttpAgent(tcpTunnel, { keepAlive: true });
    const get = (p: string): Promise<string> =>
      new Promise((resolve, reject) => {
        http
          .get(`http://127.0.0.1:${port}${p}`, { agent: httpAgent }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (b: Buffer) => parts.push(b));
            res.on('end', () => resolve(Buffer.concat(parts).toString()));
          })
          .on('error', reject);
      });
    try {
      expect(await get('/a')).toBe('hello /a');
      expect(await get('/b')).toBe('hello /b');
      expect(connections).toBe(1);
    } finally {
      httpAgent.destroy();
      web.closeAllConnections();
      await new Promise<void>((r) => web.close(() => r()));
    }
  });

  it('echoes through a connection and leaves nothing open on either side', async () => {
    const sock = await udsTunnel.dial(echo.address);
    sock.write('round trip');
    expect((await readExactly(sock, 10)).toString()).toBe('round trip');
    sock.destroy();
    await udsTunnel.idle();
    expect(stacks[0]!.server.stats()).toMatchObject({ pendingDials: 0 });
    expect(stacks[0]!.agent.stats()).toMatchObject({ pendingDials: 0 });
  });
});
