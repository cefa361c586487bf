/**
 * --cert-source=files (the default) through the real TunnelServer and
 * TunnelAgent: when the certificate files are replaced on disk (as
 * cert-manager or a Secret update does), new TLS handshakes get the new
 * certificate without a restart, and an open tunnel keeps transferring.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { DevCA, type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { mtlsAuthenticator } from '../../src/server/auth/mtls.js';
import type { AgentAuthenticator } from '../../src/server/auth/types.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { TunnelServer } from '../../src/server/index.js';
import { EchoTarget, until } from '../support/agent-peers.js';

let dir: string;
let ca: DevCA;
let pki: DevPkiFiles;
let echo: EchoTarget;
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wiring-rotation-'));
  ca = await DevCA.create();
  echo = await EchoTarget.start();
});
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Replaces a certificate and key the way a Secret volume update does: new files renamed into place. */
function replaceFiles(certFile: string, keyFile: string, pair: { cert: string; key: string }): void {
  writeFileSync(`${keyFile}.new`, pair.key, { mode: 0o600 });
  writeFileSync(`${certFile}.new`, pair.cert);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

/** The serial number of the certificate a TLS listener presents to a new connection. */
function presentedSerial(port: number, client: { cert: string; key: string } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost', ...(client ?? {}), ALPNProtocols: ['h2'] }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

async function eventuallySerial(port: number, client: { cert: string; key: string } | undefined, want: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await presentedSerial(port, client);
    if (got === want) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still presents ${got}, not ${want}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

/** An echo connection through the tunnel: write, and read the same bytes back. */
async function openEcho(uds: string): Promise<{ tunnel: Tunnel; exchange(text: string): Promise<string> }> {
  const tunnel = await createTunnel({ uds });
  const sock = await tunnel.dial(echo.address);
  let got = '';
  sock.on('data', (d: Buffer) => {
    got += d.toString();
  });
  return {
    tunnel,
    async exchange(text: string): Promise<string> {
      got = '';
      sock.write(text);
      await until(() => got.length >= text.length, 10_000, `echo of ${text}`);
      return got;
    },
  };
}

async function startPair(name: string, o: { serverCount?: number; authenticator?: AgentAuthenticator } = {}) {
  pki = await writeDevPki(path.join(dir, name), { agentID: 'cluster-a', ca });
  const uds = path.join(dir, `${name}.sock`);
  const server = new TunnelServer(
    defaultServerConfig({
      udsName: uds,
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
      serverCount: o.serverCount ?? 1,
      healthPort: -1,
      adminPort: -1,
      allowEphemeralPorts: true,
    }),
    { logger: silentLogger(), registry: newRegistry(false), ...(o.authenticator ? { authenticator: o.authenticator } : {}) },
  );
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  const cfg: AgentConfig = defaultAgentConfig({
    agentID: 'cluster-a',
    proxyServerHost: '127.0.0.1',
    proxyServerPort: addrs.agentPort,
    caCert: pki.caCert,
    agentCert: pki.agentCert,
    agentKey: pki.agentKey,
    syncIntervalMs: 50,
    syncIntervalCapMs: 100,
    probeIntervalMs: 50,
    healthServerPort: -1,
    adminServerPort: -1,
  });
  const agent = new TunnelAgent(cfg, { logger: silentLogger(), registry: newRegistry(false) });
  cleanup.push(() => agent.stop());
  await agent.start();
  await until(() => agent.ready, 10_000, 'agent connected');
  return { server, agent, uds, agentPort: addrs.agentPort, frontendPort: addrs.frontendPort! };
}

describe('certificate files replaced on disk', () => {
  it('the server presents the new certificate on both listeners to new connections; an open tunnel keeps transferring', async () => {
    const { uds, agentPort, frontendPort, server } = await startPair('server-rotation');
    const agentClient = { cert: await readText(pki.agentCert), key: await readText(pki.agentKey) };
    const frontendClient = { cert: await readText(pki.clientCert), key: await readText(pki.clientKey) };
    const before = await presentedSerial(agentPort, agentClient);
    expect(await presentedSerial(frontendPort, frontendClient)).toBe(before);

    const conn = await openEcho(uds);
    cleanup.push(() => conn.tunnel.close());
    expect(await conn.exchange('before rotation')).toBe('before rotation');

    const next = await ca.issue({ commonName: 'tunnel-server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    replaceFiles(pki.serverCert, pki.serverKey, next);
    const want = serialOf(next.cert);
    expect(want).not.toBe(before);
    await eventuallySerial(agentPort, agentClient, want);
    await eventuallySerial(frontendPort, frontendClient, want);

    expect(await conn.exchange('after rotation')).toBe('after rotation');
    // New tunnels still work, and the agent connection was never dropped.
    const fresh = await openEcho(uds);
    cleanup.push(() => fresh.tunnel.close());
    expect(await fresh.exchange('new tunnel')).toBe('new tunnel');
    expect(server.stats().agentStreams).toBe(1);
  }, 60_000);

  it('the agent presents its new certificate on new connections; its open tunnel keeps transferring', async () => {
    const seen: string[] = [];
    const recording: AgentAuthenticator = {
      authenticate(ctx) {
        if (ctx.peerCertificate?.serialNumber) seen.push(ctx.peerCertificate.serialNumber);
        return mtlsAuthenticator.authenticate(ctx);
      },
    };
    // servercount 2 with one replica: the agent keeps opening new connections (each reaches the
    // same server and is closed as a duplicate), so every new handshake can be observed.
    const { uds } = await startPair('agent-rotation', { serverCount: 2, authenticator: recording });
    const first = serialOf(await readText(pki.agentCert));
    await until(() => seen.includes(first), 10_000, 'first agent certificate seen');

    const conn = await openEcho(uds);
    cleanup.push(() => conn.tunnel.close());
    expect(await conn.exchange('before rotation')).toBe('before rotation');

    const next = await ca.issue({ commonName: 'cluster-a', usage: 'client' });
    replaceFiles(pki.agentCert, pki.agentKey, next);
    const want = serialOf(next.cert);
    await until(() => seen.includes(want), 20_000, 'new agent certificate on a new connection');

    expect(await conn.exchange('after rotation')).toBe('after rotation');
  }, 60_000);
});

function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}
