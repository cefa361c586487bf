/**
 * Drop-in: bad input on the shared frontend socket. Garbage that is neither
 * HTTP/2 nor HTTP/1.1, a CONNECT with an empty, malformed or portless
 * target, a request head over the size bound, a slowloris head, a silent
 * connection, a request line with no end, and a CONNECT to a destination
 * the agent cannot reach: each gets its documented status (or a close),
 * one log line and one metric, and nothing else is affected: a gRPC tunnel
 * and an HTTP CONNECT tunnel opened before keep carrying bytes, and the
 * agent stays connected.
 *
 * In process (TunnelServer and TunnelAgent) so the header and sniff
 * timeouts can be short and log records read directly.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerAddresses, TunnelServer } from '../../src/server/index.js';
import { EchoTarget, recordingLogger, until } from '../support/agent-peers.js';
import { type Endpoint, httpConnect, rawConnect, readAll, readBytes } from '../support/dropin-peers.js';

const HEADER_TIMEOUT_MS = 1500;
const SNIFF_TIMEOUT_MS = 1500;

let dir: string;
let pki: DevPkiFiles;
let echo: EchoTarget;
let server: TunnelServer;
let agent: TunnelAgent;
let addrs: ServerAddresses;
const serverRegistry = newRegistry(false);
const agentRegistry = newRegistry(false);
const { logger, records } = recordingLogger();
let witnessTunnel: Tunnel;
let witnessGrpc: Duplex;
let witnessConnect: Duplex;
const opened: Duplex[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-bad-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await EchoTarget.start();
  server = new TunnelServer(
    defaultServerConfig({
      udsName: path.join(dir, 'konnectivity-server.socket'),
      serverPort: 0,
      tcpFrontend: true,
      serverBindAddress: '127.0.0.1',
      serverCert: pki.serverCert,
      serverKey: pki.serverKey,
      serverCaCert: pki.caCert,
      agentPort: 0,
      agentBindAddress: '127.0.0.1',
      clusterCert: pki.serverCert,
      clusterKey: pki.serverKey,
      clusterCaCert: pki.caCert,
      healthPort: -1,
      adminPort: -1,
      allowEphemeralPorts: true,
      httpConnectHeaderTimeoutMs: HEADER_TIMEOUT_MS,
    }),
    { logger, registry: serverRegistry, limits: { sniffTimeoutMs: SNIFF_TIMEOUT_MS } },
  );
  addrs = await server.start();
  agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: addrs.agentPort,
      caCert: pki.caCert,
      agentCert: pki.agentCert,
      agentKey: pki.agentKey,
      healthServerPort: -1,
      adminServerPort: -1,
    }),
    { logger: silentLogger(), registry: agentRegistry },
  );
  await agent.start();
  await until(() => server.stats().agents === 1, 10_000, 'agent registered');

  witnessTunnel = await createTunnel({ uds: addrs.udsPath! });
  witnessGrpc = await witnessTunnel.dial(echo.address);
  const c = await httpConnect({ port: addrs.frontendPort! }, pki, echo.address);
  expect(c.status).toBe(200);
  witnessConnect = c.socket;
}, 120_000);

afterAll(async () => {
  for (const s of [witnessGrpc, witnessConnect, ...opened]) s?.destroy();
  await witnessTunnel?.close().catch(() => undefined);
  await agent?.stop();
  await server?.shutdown({ graceful: false });
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

let round = 0;
/** Both witness tunnels still echo, and the agent is still there. */
async function othersUnaffected(): Promise<void> {
  round++;
  for (const sock of [witnessGrpc, witnessConnect]) {
    const text = `still here ${round}`;
    const back = readBytes(sock, text.length);
    sock.write(text);
    expect((await back).toString()).toBe(text);
  }
  expect(server.stats()).toMatchObject({ agents: 1, established: 2 });
}

async function badInput(source: string, reason: string): Promise<number> {
  const m = await serverRegistry.getSingleMetric('konnectivity_network_proxy_server_bad_input_total')!.get();
  return m.values.find((v) => v.labels['source'] === source && v.labels['reason'] === reason)?.value ?? 0;
}

/** Log records at warn or info since `from` whose message matches. */
function logged(from: number, message: string | RegExp): Record<string, unknown>[] {
  return records.slice(from).filter((r) => (typeof message === 'string' ? r['message'] === message : message.test(String(r['message']))));
}

/** Connects, writes `bytes`, and returns everything the server sends until it closes. */
async function exchange(fe: Endpoint, bytes: string | Buffer): Promise<string> {
  const sock = await rawConnect(fe, pki);
  opened.push(sock);
  const all = readAll(sock);
  sock.write(bytes);
  return all;
}

const frontends: [string, () => Endpoint][] = [
  ['the Unix socket', () => ({ path: addrs.udsPath! })],
  ['the mTLS port', () => ({ port: addrs.frontendPort! })],
];

describe.each(frontends)('drop-in: bad input on %s', (_name, fe) => {
  it('garbage that is neither HTTP/2 nor HTTP/1.1 is closed without an answer', async () => {
    const before = await badInput('frontend', 'not_http');
    const from = records.length;
    expect(await exchange(fe(), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0xff, 0xfe]))).toBe('');
    expect(await badInput('frontend', 'not_http')).toBe(before + 1);
    expect(logged(from, 'frontend connection is neither gRPC nor HTTP/1.1; closed')).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'not_http' }),
    ]);
    await othersUnaffected();
  });

  it('a CONNECT with an empty target gets 400', async () => {
    const before = await badInput('frontend', 'malformed_request_line');
    const from = records.length;
    const text = await exchange(fe(), 'CONNECT  HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text.endsWith('malformed request line\n')).toBe(true);
    expect(await badInput('frontend', 'malformed_request_line')).toBe(before + 1);
    expect(logged(from, 'frontend connection is neither gRPC nor HTTP/1.1; closed')).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'malformed_request_line' }),
    ]);
    await othersUnaffected();
  });

  it.each([
    ['10.0.0.1', 'missing port'],
    ['10.0.0.1:', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:http', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:70000', 'the port must be a number from 1 to 65535'],
    [':443', 'missing host'],
    ['fe80::1:443', 'too many colons'],
    ['[fe80::1:443', 'missing "]"'],
  ])('a CONNECT to "%s" gets 400 (%s)', async (target, why) => {
    const before = await badInput('http', 'bad_target');
    const from = records.length;
    const text = await exchange(fe(), `CONNECT ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text).toContain(why);
    expect(await badInput('http', 'bad_target')).toBe(before + 1);
    expect(logged(from, 'bad CONNECT target')).toEqual([expect.objectContaining({ level: 'warn' })]);
    expect(server.stats().pendingDials).toBe(0);
    await othersUnaffected();
  });

  it('a request head over the size bound gets 431', async () => {
    const before = await badInput('http', 'too_large');
    const from = records.length;
    const text = await exchange(fe(), `CONNECT ${echo.address} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(await badInput('http', 'too_large')).toBe(before + 1);
    expect(logged(from, 'bad HTTP request')).toEqual([expect.objectContaining({ level: 'warn' })]);
    await othersUnaffected();
  });

  it('a request line with no end gets 431', async () => {
    const before = await badInput('frontend', 'request_line_too_long');
    const from = records.length;
    const text = await exchange(fe(), `CONNECT ${'a'.repeat(9000)}`);
    expect(text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(await badInput('frontend', 'request_line_too_long')).toBe(before + 1);
    expect(logged(from, 'frontend connection is neither gRPC nor HTTP/1.1; closed')).toEqual([
      expect.objectContaining({ reason: 'request_line_too_long' }),
    ]);
    await othersUnaffected();
  });

  it('a slowloris head (one byte at a time) gets 408 when the header timeout runs out, though bytes keep coming', async () => {
    const before = await badInput('http', 'timeout');
    const from = records.length;
    const sock = await rawConnect(fe(), pki);
    opened.push(sock);
    const all = readAll(sock);
    sock.write(`CONNECT ${echo.address} HTTP/1.1\r\n`);
    let sent = 0;
    const drip = setInterval(() => {
      if (!sock.destroyed && sock.writable) {
        sock.write(sent++ % 2 === 0 ? 'X' : '-');
      }
    }, 100);
    try {
      const text = await all;
      expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(text).toContain(`no complete request head within ${HEADER_TIMEOUT_MS} ms`);
    } finally {
      clearInterval(drip);
    }
    expect(sent).toBeGreaterThan(0); // bytes were still arriving: they do not extend the deadline
    expect(await badInput('http', 'timeout')).toBe(before + 1);
    expect(logged(from, 'bad HTTP request')).toEqual([expect.objectContaining({ level: 'warn' })]);
    await othersUnaffected();
  });

  it('a connection that sends nothing is closed after the sniff timeout', async () => {
    const before = await badInput('frontend', 'timeout');
    const from = records.length;
    const sock = await rawConnect(fe(), pki);
    opened.push(sock);
    expect(await readAll(sock)).toBe('');
    expect(await badInput('frontend', 'timeout')).toBe(before + 1);
    expect(logged(from, 'frontend connection is neither gRPC nor HTTP/1.1; closed')).toEqual([
      expect.objectContaining({ reason: 'timeout' }),
    ]);
    await othersUnaffected();
  });

  it('a CONNECT to a destination the agent cannot reach gets 502 with the dial error', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const failures = async (): Promise<number> =>
      (await serverRegistry.getSingleMetric('konnectivity_network_proxy_server_dial_failure_count')!.get()).values.find(
        (v) => v.labels['reason'] === 'error_response',
      )?.value ?? 0;
    const agentFailures = async (): Promise<number> =>
      (await agentRegistry.getSingleMetric('konnectivity_network_proxy_agent_endpoint_dial_failure_total')!.get()).values.reduce(
        (n, v) => n + v.value,
        0,
      );
    const [before, agentBefore] = [await failures(), await agentFailures()];
    const from = records.length;
    const text = await exchange(fe(), `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain(`dial tcp 127.0.0.1:${port}: connect: connection refused`);
    expect(await failures()).toBe(before + 1);
    expect(await agentFailures()).toBe(agentBefore + 1);
    expect(logged(from, 'CONNECT failed')).toEqual([expect.objectContaining({ level: 'info', status: 502, address: `127.0.0.1:${port}` })]);
    await othersUnaffected();
  });
});

describe('drop-in: the witnesses', () => {
  it('were opened through both frontend kinds before the bad input and carry a large payload afterwards', async () => {
    const big = readFileSync(pki.caCert).toString('latin1').repeat(200);
    const back = readBytes(witnessConnect, big.length);
    witnessConnect.write(big);
    expect((await back).toString('latin1')).toBe(big);
    await othersUnaffected();
  });
});
