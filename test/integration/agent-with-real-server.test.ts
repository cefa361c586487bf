/**
 * The agent against the real TunnelServer, in process: mTLS and token
 * metadata as the server reads them, a refusal worded by the server, one
 * stream per server replica behind a balancer, reconnection after a server
 * goes away, and bytes through server and agent to a TCP target.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { AgentAuthError, type AgentAuthenticator } from '../../src/server/auth/types.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { EchoTarget, recordingLogger, RoundRobinForwarder, until } from '../support/agent-peers.js';

let dir: string;
let pki: DevPkiFiles;
let echo: EchoTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await EchoTarget.start();
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});

let socketN = 0;
async function startServer(o: Partial<ServerConfig> = {}, authenticator?: AgentAuthenticator): Promise<{ server: TunnelServer; agentPort: number; uds: string }> {
  const uds = path.join(dir, `fe-${socketN++}.sock`);
  const server = new TunnelServer(
    defaultServerConfig({
      udsName: uds,
      serverPort: 0,
      agentPort: 0,
      agentBindAddress: '127.0.0.1',
      clusterCert: pki.serverCert,
      clusterKey: pki.serverKey,
      clusterCaCert: pki.caCert,
      healthPort: -1,
      adminPort: -1,
      allowEphemeralPorts: true,
      ...o,
    }),
    { logger: silentLogger(), registry: newRegistry(false), ...(authenticator ? { authenticator } : {}) },
  );
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort, uds };
}

function agentConfig(port: number, o: Partial<AgentConfig> = {}): AgentConfig {
  return defaultAgentConfig({
    agentID: 'cluster-a',
    agentIdentifiers: 'host=cluster-a',
    proxyServerHost: '127.0.0.1',
    proxyServerPort: port,
    caCert: pki.caCert,
    agentCert: pki.agentCert,
    agentKey: pki.agentKey,
    syncIntervalMs: 30,
    syncIntervalCapMs: 120,
    probeIntervalMs: 50,
    healthServerPort: -1,
    adminServerPort: -1,
    ...o,
  });
}

async function startAgent(cfg: AgentConfig, logger = silentLogger()): Promise<TunnelAgent> {
  const agent = new TunnelAgent(cfg, { logger, registry: newRegistry(false) });
  cleanup.push(() => agent.stop());
  await agent.start();
  return agent;
}

/** Sends text through the server's UDS frontend and the agent to the echo target; resolves with what came back. */
async function roundTrip(uds: string, text: string): Promise<string> {
  const tunnel = await createTunnel({ uds });
  try {
    const sock = await tunnel.dial(echo.address);
    const back = new Promise<string>((resolve) => {
      let got = '';
      sock.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= text.length) resolve(got);
      });
    });
    sock.write(text);
    const result = await back;
    sock.end();
    return result;
  } finally {
    await tunnel.close();
  }
}

describe('agent with the real TunnelServer', () => {
  it('connects over mTLS, relays bytes to a TCP target and frees its endpoint connection afterwards', async () => {
    const { server, agentPort, uds } = await startServer({ serverID: 'real-1' });
    const agent = await startAgent(agentConfig(agentPort));
    await until(() => agent.ready && server.stats().agents === 1, 5000, 'agent registered');
    expect(await roundTrip(uds, 'through the real server')).toBe('through the real server');
    await until(() => agent.stats().endpointConnections === 0, 5000, 'endpoint connection closed');
    await echo.allClosed();
  });

  it('sends its token, and logs the server\'s own words when the server refuses it', async () => {
    const token = path.join(dir, 'token');
    writeFileSync(token, 'wrong');
    const seen: string[][] = [];
    const byToken: AgentAuthenticator = {
      authenticate: (ctx) => {
        seen.push(ctx.authorization);
        return ctx.authorization[0] === 'Bearer right'
          ? Promise.resolve({ subject: 'system:serviceaccount:kube-system:konnectivity-agent', method: 'token' })
          : Promise.reject(new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', 'token is not valid for audience system:konnectivity-server'));
      },
    };
    const { server, agentPort } = await startServer({ serverID: 'real-token', clusterCaCert: '' }, byToken);
    const { logger, records } = recordingLogger();
    const agent = await startAgent(agentConfig(agentPort, { agentCert: '', agentKey: '', serviceAccountTokenPath: token }), logger);
    await until(() => records.some((r) => r['message'] === 'proxy server refused the connection'), 5000, 'refusal logged');
    const line = records.find((r) => r['message'] === 'proxy server refused the connection')!;
    expect(line['error']).toBe('server refused the connection (Unauthenticated): token is not valid for audience system:konnectivity-server');
    expect(agent.ready).toBe(false);

    writeFileSync(token, 'right');
    await until(() => agent.ready && server.stats().agents === 1, 5000, 'accepted after the token changed');
    expect(seen[0]).toEqual(['Bearer wrong']);
    expect(seen[seen.length - 1]).toEqual(['Bearer right']);
  });

  it('holds one stream per replica behind a balancer and reaches the target through each', async () => {
    const a = await startServer({ serverID: 'replica-a', serverCount: 2 });
    const b = await startServer({ serverID: 'replica-b', serverCount: 2 });
    const lb = await RoundRobinForwarder.start([a.agentPort, b.agentPort]);
    cleanup.push(() => lb.close());
    const agent = await startAgent(agentConfig(lb.port));
    await until(() => agent.stats().serverConnections === 2, 5000, 'two streams');
    await until(() => a.server.stats().agents === 1 && b.server.stats().agents === 1, 5000, 'registered on both');
    expect(await roundTrip(a.uds, 'via a')).toBe('via a');
    expect(await roundTrip(b.uds, 'via b')).toBe('via b');
  });

  it('turns not ready when its server goes away and reconnects to a new one', async () => {
    const first = await startServer({ serverID: 'first' });
    const lb = await RoundRobinForwarder.start([first.agentPort]);
    cleanup.push(() => lb.close());
    const agent = await startAgent(agentConfig(lb.port));
    await until(() => agent.ready, 5000, 'ready');
    await first.server.shutdown({ graceful: false });
    await until(() => !agent.ready, 5000, 'not ready');
    const second = await startServer({ serverID: 'second' });
    lb.backends = [second.agentPort];
    await until(() => agent.ready && second.server.stats().agents === 1, 5000, 'reconnected');
    expect(await roundTrip(second.uds, 'again')).toBe('again');
  });
});
