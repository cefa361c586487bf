import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { data, dialRsp, TEXT } from '../../src/protocol/index.js';
import type { ServerConfig } from '../../src/server/config.js';
import { TunnelServer } from '../../src/server/index.js';
import { startEchoServer, TestAgent, TestProxyClient, testServerConfig } from '../support/server-peers.js';

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

type Kind = 'uds' | 'tcp';
interface Setup {
  kind: Kind;
  server: TunnelServer;
  udsPath?: string;
  port?: number;
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
    expect(s.stats()).toEqual({ agents: 0, agentStreams: 0, pendingDials: 0, established: 0, frontendStreams: 0, httpConnections: 0 });
  }
});

async function startServer(kind: Kind, over: Partial<ServerConfig> = {}): Promise<Setup> {
  const registry = newRegistry(false);
  const udsName = kind === 'uds' ? path.join(dir, `fe-${Math.random().toString(36).slice(2)}.sock`) : '';
  const server = new TunnelServer(testServerConfig(pki, { udsName, ...over }), { logger: silentLogger(), registry });
  const addrs = await server.start();
  current = { kind, server, udsPath: addrs.udsPath, port: addrs.frontendPort, agentPort: addrs.agentPort, registry };
  return current;
}

async function withAgent(s: Setup, opts: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): Promise<TestAgent> {
  const a = new TestAgent({ agentPort: s.agentPort, tls: { caCert: pki.caCert, cert: pki.agentCert, key: pki.agentKey }, ...opts });
  open.push(a);
  await a.headers;
  while (s.server.stats().agentStreams === 0) await new Promise((r) => setImmediate(r));
  return a;
}

/** A raw connection to the frontend (Unix socket, or TLS with the frontend client certificate). */
function rawConnect(s: Setup): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const sock =
      s.kind === 'uds'
        ? net.connect(s.udsPath!)
        : tls.connect({
            host: '127.0.0.1',
            port: s.port!,
            servername: 'localhost',
            ca: fs.readFileSync(pki.caCert),
            cert: fs.readFileSync(pki.clientCert),
            key: fs.readFileSync(pki.clientKey),
          });
    open.push({ close: () => sock.destroy() });
    sock.once(s.kind === 'uds' ? 'connect' : 'secureConnect', () => resolve(sock));
    sock.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function readAll(sock: Duplex): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
    sock.on('close', () => resolve(out));
    sock.on('error', () => undefined);
  });
}

/** Reads until `n` bytes arrived. */
function readBytes(sock: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    const on = (d: Buffer): void => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        sock.off('data', on);
        resolve(Buffer.concat(parts));
      }
    };
    sock.on('data', on);
  });
}

/** Node's HTTP client doing CONNECT over the given transport. */
function httpConnect(s: Setup, target: string): Promise<{ status: number; socket: Duplex; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const opts: http.RequestOptions =
      s.kind === 'uds'
        ? { socketPath: s.udsPath!, method: 'CONNECT', path: target, headers: { host: '127.0.0.1' } }
        : {
            method: 'CONNECT',
            path: target,
            headers: { host: '127.0.0.1' },
            createConnection: () =>
              tls.connect({
                host: '127.0.0.1',
                port: s.port!,
                servername: 'localhost',
                ca: fs.readFileSync(pki.caCert),
                cert: fs.readFileSync(pki.clientCert),
                key: fs.readFileSync(pki.clientKey),
              }),
          };
    const req = http.request(opts);
    req.once('connect', (res, socket, head) => {
      open.push({ close: () => socket.destroy() });
      resolve({ status: res.statusCode ?? 0, socket, head });
    });
    req.once('error', reject);
    req.end();
  });
}

async function metric(s: Setup, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await s.registry.getSingleMetric(name)?.get();
  return m?.values.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value ?? 0;
}

describe.each(['uds', 'tcp'] as const)('HTTP CONNECT over %s', (kind) => {
  it('tunnels bytes both ways after "200 Connection Established", beside a gRPC client on the same socket', async () => {
    const s = await startServer(kind);
    const a = await withAgent(s);
    const { status, socket } = await httpConnect(s, echo.address);
    expect(status).toBe(200);
    expect(s.server.stats()).toMatchObject({ httpConnections: 1, established: 1 });
    expect(await metric(s, 'konnectivity_network_proxy_server_http_connections')).toBe(1);

    const grpcClient = new TestProxyClient(
      kind === 'uds' ? { uds: s.udsPath! } : { port: s.port!, tls: { caCert: pki.caCert, cert: pki.clientCert, key: pki.clientKey } },
    );
    open.push(grpcClient);
    const rsp = await grpcClient.dial(echo.address);
    grpcClient.stream.write(data(rsp.connectID, Buffer.from('grpc side')));

    socket.write('http side');
    expect((await readBytes(socket, 9)).toString()).toBe('http side');
    expect((await grpcClient.readBytes(9)).toString()).toBe('grpc side');
    expect(s.server.stats()).toMatchObject({ httpConnections: 1, frontendStreams: 1, established: 2 });

    const big = Buffer.alloc(300_000, 7);
    socket.write(big);
    expect((await readBytes(socket, big.length)).equals(big)).toBe(true);

    socket.end();
    await a.until(() => a.closeRequests.length === 1);
    while (s.server.stats().httpConnections > 0) await new Promise((r) => setImmediate(r));
    expect(await metric(s, 'konnectivity_network_proxy_server_http_connections')).toBe(0);
  });

  it('answers 500 "currently no tunnels available" without an agent', async () => {
    const s = await startServer(kind);
    const sock = await rawConnect(s);
    const all = readAll(sock);
    sock.write(`CONNECT ${echo.address} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(await all).toBe(
      'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\ncurrently no tunnels available: No agent available',
    );
  });
});

describe('HTTP CONNECT details', () => {
  async function connectRaw(s: Setup, request: string): Promise<{ sock: Duplex; all: Promise<string> }> {
    const sock = await rawConnect(s);
    const all = readAll(sock);
    sock.write(request);
    return { sock, all };
  }

  it('dials the request-target, ignores Host, and forwards bytes sent with the headers', async () => {
    const s = await startServer('uds');
    const a = await withAgent(s);
    const sock = await rawConnect(s);
    const got = readBytes(sock, CONNECT_LEN + 5);
    sock.write(`CONNECT ${echo.address} HTTP/1.1\r\nHost: somewhere.else:1\r\n\r\nearly`);
    expect((await got).toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\nearly');
    expect(a.dials).toEqual([echo.address]);
  });

  it('maps an agent dial error to 502 with the error text as body', async () => {
    const s = await startServer('uds');
    await withAgent(s);
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { all } = await connectRaw(s, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain('ECONNREFUSED');
  });

  it.each([
    ['dial tcp 10.0.0.1:80: i/o timeout', 504],
    ['context deadline exceeded', 504],
    ['dial tcp: socket: too many open files', 503],
    ['dial tcp 10.0.0.1:80: connect: no route to host', 502],
  ])('maps "%s" to %d', async (error, status) => {
    const s = await startServer('uds');
    const a = await withAgent(s);
    a.answerDials = false;
    const { all } = await connectRaw(s, 'CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n');
    await a.until(() => a.dials.length === 1);
    // The server chose the dial id; answer the DIAL_REQ the agent saw.
    const random = await lastDialRandom(a);
    a.send(dialRsp(random, 0n, error));
    const text = await all;
    expect(text.split('\r\n')[0]).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(text.endsWith(error)).toBe(true);
  });

  it('answers 504 when the backend dial times out and cancels it at the agent', async () => {
    const s = await startServer('uds', { backendDialTimeoutMs: 100 });
    const a = await withAgent(s);
    a.answerDials = false;
    const { all } = await connectRaw(s, 'CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n');
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(text.endsWith(TEXT.backendDialTimeout)).toBe(true);
    await a.until(() => a.dialCloses.length === 1);
  });

  it('answers 502 "Backend context error" when the agent goes away during the dial', async () => {
    const s = await startServer('uds');
    const a = await withAgent(s);
    a.answerDials = false;
    const { all } = await connectRaw(s, 'CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n');
    await a.until(() => a.dials.length === 1);
    a.close();
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain(TEXT.httpBackendContext);
  });

  it('cancels the dial at the agent when the client goes away while it is pending', async () => {
    const s = await startServer('uds');
    const a = await withAgent(s);
    a.answerDials = false;
    const { sock } = await connectRaw(s, 'CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\n');
    await a.until(() => a.dials.length === 1);
    sock.end();
    await a.until(() => a.dialCloses.length === 1);
    expect(a.dialCloses[0]).toBe(await lastDialRandom(a));
  });

  it('closes the socket when the agent closes the connection', async () => {
    const s = await startServer('uds');
    await withAgent(s);
    const { socket } = await httpConnect(s, echo.address);
    const closed = new Promise((r) => socket.once('close', r));
    for (const t of echo.sockets) t.destroy(); // the remote end goes away: the agent sends CLOSE_RSP
    await closed;
  });

  it('refuses a request head that is too slow (408) or too large (431)', async () => {
    const s = await startServer('uds', { httpConnectHeaderTimeoutMs: 200 });
    const slow = await connectRaw(s, 'CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: x\r\n');
    expect(await slow.all).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const big = await connectRaw(s, `CONNECT 10.0.0.1:80 HTTP/1.1\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(await big.all).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const badTarget = await connectRaw(s, 'CONNECT /no-port HTTP/1.1\r\n\r\n');
    expect(await badTarget.all).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'http', reason: 'timeout' })).toBe(1);
    expect(await metric(s, 'konnectivity_network_proxy_server_bad_input_total', { source: 'http', reason: 'too_large' })).toBe(1);
  });

  it('answers other methods with 405', async () => {
    const s = await startServer('uds');
    const { all } = await connectRaw(s, 'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n');
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(text.endsWith(TEXT.httpOnlyConnect + '\n')).toBe(true);
  });
});

const CONNECT_LEN = 'HTTP/1.1 200 Connection Established\r\n\r\n'.length;

/** The dial id of the most recent DIAL_REQ the agent received (the server draws it for CONNECT). */
async function lastDialRandom(a: TestAgent): Promise<bigint> {
  await a.until(() => a.dialRandoms.length > 0);
  return a.dialRandoms[a.dialRandoms.length - 1]!;
}
