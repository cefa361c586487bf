/**
 * The server between the real TunnelAgent and the real client library, in
 * process: what the server adds beyond upstream (pending dials failed at once
 * when their agent leaves, DIAL_CLS honoured by our agent, DRAIN steering
 * new dials) seen end to end.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { defaultAgentConfig, type EndpointDialer, tcpDialer, TunnelAgent } from '../../src/agent/index.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, DialError, type Tunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { TunnelServer } from '../../src/server/index.js';
import { startEchoServer, testServerConfig } from '../support/server-peers.js';

let dir: string;
let pki: DevPkiFiles;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'agent-1' });
  echo = await startEchoServer();
});

afterAll(async () => {
  await echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Stack {
  server: TunnelServer;
  udsPath: string;
  agentPort: number;
  adminPort: number;
  agents: TunnelAgent[];
  tunnel?: Tunnel;
}
let stack: Stack | undefined;

afterEach(async () => {
  const s = stack;
  stack = undefined;
  if (!s) return;
  await s.tunnel?.close();
  for (const a of s.agents) await a.stop();
  await s.server.shutdown({ graceful: false });
  expect(s.server.stats()).toEqual({ agents: 0, agentStreams: 0, pendingDials: 0, established: 0, frontendStreams: 0, httpConnections: 0 });
});

async function startStack(): Promise<Stack> {
  const server = new TunnelServer(
    testServerConfig(pki, { udsName: path.join(dir, `fe-${Math.random().toString(36).slice(2)}.sock`), adminPort: 0 }),
    { logger: silentLogger(), registry: newRegistry(false) },
  );
  const addrs = await server.start();
  stack = { server, udsPath: addrs.udsPath!, agentPort: addrs.agentPort, adminPort: addrs.adminPort!, agents: [] };
  return stack;
}

/** Starts a TunnelAgent and waits until the server has registered it. */
async function startAgent(s: Stack, agentID: string, dialer: EndpointDialer = tcpDialer): Promise<TunnelAgent> {
  const agent = new TunnelAgent(
    defaultAgentConfig({
      agentID,
      proxyServerHost: '127.0.0.1',
      proxyServerPort: s.agentPort,
      caCert: pki.caCert,
      agentCert: pki.agentCert,
      agentKey: pki.agentKey,
      healthServerPort: -1,
      adminServerPort: -1,
      allowEphemeralPorts: true,
    }),
    { logger: silentLogger(), registry: newRegistry(false), dialer },
  );
  s.agents.push(agent);
  const before = s.server.stats().agents;
  await agent.start();
  await until(() => s.server.stats().agents > before);
  return agent;
}

/** Checks a condition on every event-loop turn; the jest timeout bounds it. */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setImmediate(r));
}

/** A dialer whose dials never complete until aborted; records what it was asked and what was cancelled. */
function hangingDialer() {
  const asked: string[] = [];
  const aborted: string[] = [];
  const dialer: EndpointDialer = (address, opts) => {
    asked.push(address);
    return new Promise<Duplex>((_resolve, reject) => {
      opts.signal.addEventListener('abort', () => {
        aborted.push(address);
        reject(new Error('dial cancelled'));
      });
    });
  };
  return { dialer, asked, aborted };
}

function admin(s: Stack): Promise<{ agents: { id: string; draining: boolean }[] }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: s.adminPort, path: '/agents' }, (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => resolve(JSON.parse(body) as { agents: { id: string; draining: boolean }[] }));
      })
      .on('error', reject);
  });
}

describe('server with the real agent and client', () => {
  it('relays a connection end to end and releases everything after it closes', async () => {
    const s = await startStack();
    await startAgent(s, 'agent-1');
    s.tunnel = await createTunnel({ uds: s.udsPath });
    const sock = await s.tunnel.dial(echo.address);
    const got = new Promise<string>((resolve) => {
      let text = '';
      sock.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.length >= 11) resolve(text);
      });
    });
    sock.write('round trip!');
    expect(await got).toBe('round trip!');
    expect(s.server.stats()).toMatchObject({ established: 1, frontendStreams: 1 });
    sock.end();
    await until(() => s.server.stats().established === 0 && s.server.stats().frontendStreams === 0);
  });

  it('fails a pending dial at once when its agent goes away', async () => {
    const s = await startStack();
    const hang = hangingDialer();
    const agent = await startAgent(s, 'vanishing-agent', hang.dialer);
    s.tunnel = await createTunnel({ uds: s.udsPath });
    const dial = s.tunnel.dial('10.9.9.9:443');
    dial.catch(() => undefined);
    await until(() => hang.asked.length === 1);
    await agent.stop();
    const err = (await dial.then(
      () => undefined,
      (e: unknown) => e,
    )) as DialError;
    expect(err).toBeInstanceOf(DialError);
    expect(err.reason).toBe('endpoint');
    expect(err.message).toContain('vanishing-agent');
  });

  it('passes a client\'s cancelled dial on to the agent, which cancels its own dial', async () => {
    const s = await startStack();
    const hang = hangingDialer();
    await startAgent(s, 'agent-1', hang.dialer);
    s.tunnel = await createTunnel({ uds: s.udsPath });
    const ctl = new AbortController();
    const dial = s.tunnel.dial('10.9.9.9:443', { signal: ctl.signal });
    dial.catch(() => undefined);
    await until(() => hang.asked.length === 1);
    ctl.abort();
    await expect(dial).rejects.toMatchObject({ reason: 'context' });
    await until(() => hang.aborted.length === 1);
    await until(() => s.server.stats().pendingDials === 0);
  });

  it('steers new dials away from a draining agent', async () => {
    const s = await startStack();
    const first = hangingDialer();
    const second = hangingDialer();
    const a1 = await startAgent(s, 'agent-a', first.dialer);
    await startAgent(s, 'agent-b', second.dialer);
    a1.drain();
    let draining = false;
    for (let i = 0; i < 200 && !draining; i++) {
      draining = (await admin(s)).agents.find((a) => a.id === 'agent-a')?.draining ?? false;
    }
    expect(draining).toBe(true);
    s.tunnel = await createTunnel({ uds: s.udsPath });
    const ctl = new AbortController();
    const dials = [0, 1, 2, 3].map((i) => s.tunnel!.dial(`10.0.0.${i}:1`, { signal: ctl.signal }));
    for (const d of dials) d.catch(() => undefined);
    await until(() => second.asked.length === 4);
    expect(first.asked).toEqual([]);
    ctl.abort();
    await Promise.allSettled(dials);
  });
});
