/**
 * Drop-in: lifecycle and TLS flags of `tunnel --mode=server`, through the
 * CLI. --tls-min-version and --cipher-suites apply to both TLS listeners
 * (the mTLS frontend and the agent port), as upstream applies them;
 * --graceful-shutdown-timeout stops accepting at once and lets open
 * connections run until the timeout; --backend-dial-timeout fails a dial
 * the agent does not answer (504 for HTTP CONNECT, upstream's text for gRPC)
 * and tells the agent.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, DialError } from '../../src/client/index.js';
import { TEXT } from '../../src/protocol/index.js';
import { startAgent, startServer, stopAll, waitStatus } from '../support/cli-procs.js';
import { curl, curlProxyArgs, httpConnect, readAll, readBytes } from '../support/dropin-peers.js';
import { EchoTarget } from '../support/agent-peers.js';
import { TestAgent } from '../support/server-peers.js';

let dir: string;
let pki: DevPkiFiles;
let echo: EchoTarget;
let socketN = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dropin-life-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  echo = await EchoTarget.start();
});
afterEach(() => stopAll());
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const uds = (): string => path.join(dir, `fe-${socketN++}.sock`);

/** A TLS handshake with the server's CA and the given client certificate; resolves with what was negotiated or the error. */
function handshake(
  port: number,
  client: { cert: string; key: string },
  opts: Pick<tls.ConnectionOptions, 'minVersion' | 'maxVersion' | 'ciphers'>,
): Promise<{ protocol: string | null; cipher: string } | { error: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(pki.caCert),
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
      ALPNProtocols: ['h2'],
      ...opts,
    });
    s.once('secureConnect', () => {
      resolve({ protocol: s.getProtocol(), cipher: s.getCipher().name });
      s.destroy();
    });
    s.once('error', (e) => resolve({ error: e.message }));
  });
}

describe('drop-in: TLS flags on both listeners', () => {
  it('--tls-min-version=VersionTLS13 refuses TLS 1.2 clients on the frontend and the agent port; agents still connect', async () => {
    const server = await startServer({ pki, uds: uds(), tcp: true, extra: ['--tls-min-version=VersionTLS13'] });
    const frontendClient = { cert: pki.clientCert, key: pki.clientKey };
    const agentClient = { cert: pki.agentCert, key: pki.agentKey };
    for (const [port, client] of [
      [server.frontendPort!, frontendClient],
      [server.agentPort, agentClient],
    ] as const) {
      expect(await handshake(port, client, { maxVersion: 'TLSv1.2' })).toEqual({ error: expect.stringMatching(/protocol version|alert/i) });
      expect(await handshake(port, client, {})).toMatchObject({ protocol: 'TLSv1.3' });
    }
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    await waitStatus(agent.healthPort, '/readyz', 200);
  }, 120_000);

  it('--cipher-suites limits TLS 1.2 suites on both listeners (TLS 1.3 is unaffected, as upstream)', async () => {
    const server = await startServer({ pki, uds: uds(), tcp: true, extra: ['--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] });
    const clients = [
      [server.frontendPort!, { cert: pki.clientCert, key: pki.clientKey }],
      [server.agentPort, { cert: pki.agentCert, key: pki.agentKey }],
    ] as const;
    for (const [port, client] of clients) {
      expect(await handshake(port, client, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).toEqual({
        error: expect.stringMatching(/handshake failure|alert|no shared cipher/i),
      });
      expect(await handshake(port, client, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' })).toEqual({
        protocol: 'TLSv1.2',
        cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384',
      });
      expect(await handshake(port, client, {})).toMatchObject({ protocol: 'TLSv1.3' });
    }
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    await waitStatus(agent.healthPort, '/readyz', 200);
  }, 120_000);
});

describe('drop-in: --graceful-shutdown-timeout', () => {
  it('stops accepting at once, lets open connections run until the timeout, then closes them and exits 0', async () => {
    const server = await startServer({ pki, uds: uds(), tcp: true, extra: ['--graceful-shutdown-timeout=3s'] });
    await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    await waitStatus(server.healthPort, '/readyz', 200);
    const tunnel = await createTunnel({ uds: server.udsPath! });
    try {
      const grpcSock = await tunnel.dial(echo.address);
      grpcSock.on('error', () => undefined);
      const connect = await httpConnect({ port: server.frontendPort! }, pki, echo.address);
      expect(connect.status).toBe(200);

      server.proc.signal('SIGTERM');
      await server.proc.waitFor((l) => l.message === 'waiting for open connections to finish', 'graceful wait');
      // No new connections: the socket file is gone and the port refuses.
      expect(existsSync(server.udsPath!)).toBe(false);
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(server.frontendPort!, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve('accepted');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(refused).toBe('ECONNREFUSED');

      // The open ones still carry bytes both ways.
      for (const sock of [grpcSock, connect.socket]) {
        const back = readBytes(sock, 'during the grace period'.length);
        sock.write('during the grace period');
        expect((await back).toString()).toBe('during the grace period');
      }
      // Then the timeout ends them, and the server exits cleanly.
      const closed = Promise.all([new Promise((r) => grpcSock.once('close', r)), readAll(connect.socket)]);
      expect(await server.proc.exited).toBe(0);
      await closed;
      expect(server.proc.lines.some((l) => l.message === 'tunnel server stopped')).toBe(true);
    } finally {
      await tunnel.close().catch(() => undefined);
    }
  }, 120_000);

  it('exits at once when nothing is open', async () => {
    const server = await startServer({ pki, uds: uds(), extra: ['--graceful-shutdown-timeout=1m'] });
    server.proc.signal('SIGTERM');
    expect(await server.proc.exited).toBe(0);
    expect(server.proc.lines.some((l) => l.message === 'waiting for open connections to finish')).toBe(false);
  }, 120_000);
});

describe('drop-in: --backend-dial-timeout', () => {
  it('fails a dial the agent leaves unanswered: 504 for HTTP CONNECT, upstream\'s text for gRPC, and DIAL_CLS to the agent', async () => {
    const server = await startServer({ pki, uds: uds(), tcp: true, extra: ['--backend-dial-timeout=1s'] });
    const agent = new TestAgent({ agentPort: server.agentPort, tls: { caCert: pki.caCert, cert: pki.agentCert, key: pki.agentKey }, agentID: 'cluster-a' });
    try {
      agent.answerDials = false;
      await agent.headers;
      await waitStatus(server.healthPort, '/readyz', 200);

      const r = await curl([...curlProxyArgs(server.frontendPort!, pki), '--write-out', '%{http_connect}', 'http://10.0.0.1:80/'], 20_000);
      expect(r.stdout).toBe('504');
      expect(r.stderr).toContain('CONNECT tunnel failed, response 504');

      const tunnel = await createTunnel({ uds: server.udsPath! });
      try {
        const err = await tunnel.dial('10.0.0.2:80').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(DialError);
        expect((err as Error).message).toContain(TEXT.backendDialTimeout);
      } finally {
        await tunnel.close();
      }
      await agent.until(() => agent.dialCloses.length === 2);
      expect(agent.dials).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    } finally {
      agent.close();
    }
  }, 120_000);
});
