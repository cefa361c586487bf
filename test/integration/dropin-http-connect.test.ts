/**
 * Drop-in: HTTP CONNECT clients as operators and kube-apiserver use them,
 * against `tunnel --mode=server` and `tunnel --mode=agent` started through
 * the CLI: curl through the mTLS frontend port, Node's own
 * http.request({ method: 'CONNECT' }) through the Unix socket and the mTLS
 * port, and gRPC tunnels on the same sockets at the same time.
 *
 * curl and Unix sockets: curl (7.88 here) cannot use an HTTP proxy on a Unix
 * socket. `--unix-socket PATH` replaces the connection to the *origin* and
 * then ignores `--proxy`/`--proxytunnel` (it sends a plain `GET`), and
 * `--proxy unix://...` is refused ("Unsupported proxy scheme"; curl takes
 * Unix-socket proxies only for SOCKS). So curl is used on the TCP frontend;
 * on the Unix socket the test shows what curl does there (a plain GET,
 * answered 405 with upstream's text) and Node's http client does the CONNECT.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { TEXT } from '../../src/protocol/index.js';
import { type CliServer, httpGet, serverIdle, startAgent, startServer, stopAll, waitStatus } from '../support/cli-procs.js';
import { curl, curlProxyArgs, type Endpoint, httpConnect, rawConnect, readAll, UpgradeTarget } from '../support/dropin-peers.js';

let dir: string;
let pki: DevPkiFiles;
let target: UpgradeTarget;
let server: CliServer;
let uds: Endpoint;
let tcp: Endpoint;
const tunnels: Tunnel[] = [];
const sockets: Duplex[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-connect-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  target = await UpgradeTarget.start();
  server = await startServer({ pki, uds: path.join(dir, 'konnectivity-server.socket'), tcp: true });
  uds = { path: server.udsPath! };
  tcp = { port: server.frontendPort! };
  await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
  await waitStatus(server.healthPort, '/readyz', 200);
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(tunnels.map((t) => t.close().catch(() => undefined)));
  await stopAll();
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

const GET = (host: string): string => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('drop-in: curl through the mTLS frontend port', () => {
  it('fetches a page from the managed cluster with curl -p -x https://… and the frontend client certificate', async () => {
    const r = await curl([...curlProxyArgs(server.frontendPort!, pki), '--write-out', '\n%{http_code} %{http_connect}', `http://${target.address}/`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${UpgradeTarget.BODY}\n200 200`);
  });

  it('gets 502 with the agent\'s dial error when the destination refuses', async () => {
    const port = await closedPort();
    const r = await curl([...curlProxyArgs(server.frontendPort!, pki), '--write-out', '%{http_connect}', `http://127.0.0.1:${port}/`]);
    expect(r.code).toBe(56); // CURLE_RECV_ERROR: "CONNECT tunnel failed, response 502"
    expect(r.stdout).toBe('502');
    expect(r.stderr).toContain('CONNECT tunnel failed, response 502');
    await server.proc.waitFor((l) => l.message === 'CONNECT failed' && l['status'] === 502 && l['address'] === `127.0.0.1:${port}`, 'CONNECT failed log line');
  });

  it('is refused without a client certificate', async () => {
    const r = await curl([...curlProxyArgs(server.frontendPort!, pki, false), `http://${target.address}/`]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain(UpgradeTarget.BODY);
  });

  it('on the Unix socket, curl sends a plain GET (it cannot CONNECT there), which the frontend answers with 405', async () => {
    const r = await curl([
      '--silent',
      '--proxytunnel',
      '--proxy',
      'http://localhost:1',
      '--unix-socket',
      server.udsPath!,
      '--write-out',
      '\n%{http_code}',
      `http://${target.address}/`,
    ]);
    expect(r.stdout).toBe(`${TEXT.httpOnlyConnect}\n\n405`);
  });
});

describe('drop-in: Node http.request CONNECT and gRPC tunnels on the same sockets', () => {
  it('serves CONNECT and gRPC on the Unix socket and the mTLS port at the same time', async () => {
    const tlsOpts = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) };
    const grpcUds = await createTunnel({ uds: server.udsPath! });
    const grpcTcp = await createTunnel({ address: `127.0.0.1:${server.frontendPort!}`, tls: tlsOpts });
    tunnels.push(grpcUds, grpcTcp);
    const opened = await Promise.all([
      httpConnect(uds, pki, target.address).then((c) => ({ name: 'connect-uds', status: c.status, sock: c.socket as Duplex })),
      httpConnect(tcp, pki, target.address).then((c) => ({ name: 'connect-tcp', status: c.status, sock: c.socket as Duplex })),
      grpcUds.dial(target.address).then((s) => ({ name: 'grpc-uds', status: 200, sock: s as Duplex })),
      grpcTcp.dial(target.address).then((s) => ({ name: 'grpc-tcp', status: 200, sock: s as Duplex })),
    ]);
    sockets.push(...opened.map((o) => o.sock));
    expect(opened.map((o) => o.status)).toEqual([200, 200, 200, 200]);

    // All four are established at once, two per frontend kind, each to the request-target.
    const view = JSON.parse((await httpGet(server.adminPort, '/connections')).body) as {
      established: { frontend: string; address: string; agentID: string }[];
      pendingDials: unknown[];
    };
    expect(view.pendingDials).toEqual([]);
    expect(view.established.map((c) => c.frontend).sort()).toEqual(['grpc', 'grpc', 'http', 'http']);
    expect(new Set(view.established.map((c) => `${c.agentID} ${c.address}`))).toEqual(new Set([`cluster-a ${target.address}`]));

    // Concurrent HTTP requests through all four, plus a curl through the same TCP port.
    const [pages, viaCurl] = await Promise.all([
      Promise.all(
        opened.map(async (o) => {
          const all = readAll(o.sock);
          o.sock.write(GET(o.name));
          return all;
        }),
      ),
      curl([...curlProxyArgs(server.frontendPort!, pki), `http://${target.address}/`]),
    ]);
    for (const page of pages) {
      expect(page).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(page.endsWith(UpgradeTarget.BODY)).toBe(true);
    }
    expect(viaCurl.stdout).toBe(UpgradeTarget.BODY);
    await serverIdle(server);
  });

  it('dials the request-target (not Host) and forwards bytes sent together with the CONNECT head, as kube-apiserver does', async () => {
    for (const fe of [uds, tcp]) {
      const sock = await rawConnect(fe, pki);
      sockets.push(sock);
      const all = readAll(sock);
      sock.write(`CONNECT ${target.address} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${GET('early')}`);
      const text = await all;
      expect(text.startsWith('HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
      expect(text.endsWith(UpgradeTarget.BODY)).toBe(true);
    }
  });

  it('on the mTLS port, a client offering h2 and http/1.1 by ALPN gets http/1.1 and can CONNECT; gRPC clients (h2 alone) get h2', async () => {
    const offer = (ALPNProtocols: string[]): Promise<tls.TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({
          host: '127.0.0.1',
          port: server.frontendPort!,
          ca: readFileSync(pki.caCert),
          cert: readFileSync(pki.clientCert),
          key: readFileSync(pki.clientKey),
          ALPNProtocols,
        });
        s.once('secureConnect', () => resolve(s));
        s.once('error', reject);
      });
    const both = await offer(['h2', 'http/1.1']);
    sockets.push(both);
    expect(both.alpnProtocol).toBe('http/1.1');
    const all = readAll(both);
    both.write(`CONNECT ${target.address} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${GET('alpn')}`);
    expect((await all).startsWith('HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    const h2only = await offer(['h2']);
    expect(h2only.alpnProtocol).toBe('h2');
    h2only.destroy();
  });

  it('answers 502 through Node\'s client too, with the dial error as body, and closes', async () => {
    const port = await closedPort();
    for (const fe of [uds, tcp]) {
      const { status, socket, head } = await httpConnect(fe, pki, `127.0.0.1:${port}`);
      const rest = await readAll(socket);
      expect(status).toBe(502);
      expect(head.toString('latin1') + rest).toMatch(/ECONNREFUSED|connection refused/);
    }
    // A tunnel opened right after still works.
    const ok = await httpConnect(uds, pki, target.address);
    sockets.push(ok.socket);
    ok.socket.write('x');
    expect(ok.status).toBe(200);
    ok.socket.destroy();
    await serverIdle(server);
  });
});
