import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { closeReq, data, PacketType, TEXT } from '../../src/protocol/index.js';
import { TunnelServer } from '../../src/server/index.js';
import type { ServerConfig } from '../../src/server/config.js';
import {
  type FrontendTarget,
  startEchoServer,
  TestAgent,
  TestProxyClient,
  testServerConfig,
} from '../support/server-peers.js';

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

interface Setup {
  server: TunnelServer;
  target: FrontendTarget;
  agentPort: number;
  registry: ReturnType<typeof newRegistry>;
}

const open: { close(): void }[] = [];
let current: Setup | undefined;

afterEach(async () => {
  for (const o of open.splice(0)) o.close();
  if (current) {
    const s = current.server;
    current = undefined;
    await s.shutdown({ graceful: false });
    expect(s.stats()).toEqual({
      agents: 0,
      agentStreams: 0,
      pendingDials: 0,
      established: 0,
      frontendStreams: 0,
      httpConnections: 0,
    });
  }
});

async function startServer(kind: 'uds' | 'tcp', over: Partial<ServerConfig> = {}): Promise<Setup> {
  const registry = newRegistry(false);
  const udsName = kind === 'uds' ? path.join(dir, `fe-${Math.random().toString(36).slice(2)}.sock`) : '';
  const server = new TunnelServer(testServerConfig(pki, { udsName, ...over }), { logger: silentLogger(), registry });
  const addrs = await server.start();
  const target: FrontendTarget =
    kind === 'uds'
      ? { uds: addrs.udsPath! }
      : { port: addrs.frontendPort!, tls: { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey } };
  current = { server, target, agentPort: addrs.agentPort, registry };
  return current;
}

function agent(s: Setup, opts: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): TestAgent {
  const a = new TestAgent({
    agentPort: s.agentPort,
    tls: { caCert: pki.caCert, cert: pki.agentCert, key: pki.agentKey },
    ...opts,
  });
  open.push(a);
  return a;
}

function client(s: Setup, options: grpc.ChannelOptions = {}): TestProxyClient {
  const c = new TestProxyClient(s.target, options);
  open.push(c);
  return c;
}

/** Waits until the server's stats satisfy pred, checking on each event-loop turn (bounded by the jest timeout). */
async function statsUntil(s: Setup, pred: (st: ReturnType<TunnelServer['stats']>) => boolean): Promise<void> {
  while (!pred(s.server.stats())) await new Promise((r) => setImmediate(r));
}

async function metric(s: Setup, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await s.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe.each(['uds', 'tcp'] as const)('gRPC frontend over %s', (kind) => {
  it('dials through an agent, relays bytes both ways and closes', async () => {
    const s = await startServer(kind);
    const a = agent(s);
    const headers = await a.headers;
    expect(headers.get('serverid')).toEqual(['server-test']);
    expect(headers.get('servercount')).toEqual(['1']);
    await statsUntil(s, (st) => st.agents === 1);

    const c = client(s);
    const rsp = await c.dial(echo.address);
    expect(rsp.error).toBe('');
    expect(rsp.connectID).toBeGreaterThan(0n);
    const payload = Buffer.from('hello through the tunnel');
    c.stream.write(data(rsp.connectID, payload));
    expect((await c.readBytes(payload.length)).toString()).toBe(payload.toString());
    expect(s.server.stats()).toMatchObject({ established: 1, frontendStreams: 1 });

    c.stream.write(closeReq(rsp.connectID));
    const p = await c.reader.next();
    expect(p.type).toBe(PacketType.CLOSE_RSP);
    await statsUntil(s, (st) => st.established === 0);
    expect(a.closeRequests).toEqual([rsp.connectID]);
  });

  it('answers "No agent available" when no agent is connected', async () => {
    const s = await startServer(kind);
    const c = client(s);
    const rsp = await c.dial(echo.address, 42n);
    expect(rsp).toEqual({ random: 42n, connectID: 0n, error: TEXT.noAgent });
    expect(await metric(s, 'konnectivity_network_proxy_server_dial_failure_count', { reason: 'no_agent' })).toBe(1);
  });
});

describe('agent admission', () => {
  it('refuses a Connect without exactly one agent ID', async () => {
    const s = await startServer('uds');
    const a = agent(s, { agentIDs: [] });
    const st = await a.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toContain(TEXT.expectedOneAgentID);
    const b = agent(s, { agentIDs: ['x', 'y'] });
    expect((await b.status).details).toContain(TEXT.expectedOneAgentID);
    expect(s.server.stats().agents).toBe(0);
  });

  it('refuses an agent without a client certificate when clusterCaCert is set', async () => {
    const s = await startServer('uds');
    const a = agent(s, { tls: { caCert: pki.caCert } });
    const st = await a.status;
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(s.server.stats().agents).toBe(0);
  });
});
