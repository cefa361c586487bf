/**
 * Agent certificates the server must not accept, on a real agent port
 * (127.0.0.1, port 0) with a real agent: one that expired, one signed by a
 * foreign CA with the right CN (`tunnel-agent:<cluster>`, another dev CA of
 * the same name), and one not valid yet (clock skew beyond the backdate).
 * With --cluster-ca-cert the TLS handshake refuses them; in csr mode (where
 * the port must also let bootstrap agents in without a certificate) a
 * certificate that does not verify is no identity, and Connect is refused.
 * None is ever registered, and the agent's log says what is wrong when its
 * own certificate's dates are the cause.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { DevCA, type DevPkiFiles, type LeafOptions, writeDevPki } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { certificateOrToken } from '../../src/server/auth/bootstrap-token.js';
import { createTokenAuthenticator } from '../../src/server/auth/token-authenticator.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { openFileServerTls } from '../../src/server/server-tls.js';
import { recordingLogger, until } from '../support/agent-peers.js';

let dir: string;
let ca: DevCA;
let foreign: DevCA;
let pki: DevPkiFiles;
const cleanup: (() => Promise<void> | void)[] = [];
let n = 0;
const DAY = 86_400_000;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'handshake-refusals-'));
  ca = await DevCA.create('tunnel CA');
  foreign = await DevCA.create('tunnel CA');
  pki = await writeDevPki(path.join(dir, 'pki'), { ca });
});
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes an agent certificate of `issuer` for cluster-a; returns its files. */
async function agentCert(issuer: DevCA, validity: Pick<LeafOptions, 'notBefore' | 'notAfter'> = {}): Promise<{ agentCert: string; agentKey: string }> {
  const pair = await issuer.issue({ commonName: 'tunnel-agent:cluster-a', organization: ['tunnel.tkestack.io:agents'], usage: 'client', ...validity });
  const base = path.join(dir, `agent-${++n}`);
  writeFileSync(`${base}.crt`, pair.cert);
  writeFileSync(`${base}.key`, pair.key, { mode: 0o600 });
  return { agentCert: `${base}.crt`, agentKey: `${base}.key` };
}

/**
 * A server whose agent port verifies client certificates against the tunnel CA:
 * `require` as with --cluster-ca-cert, `request` as in csr mode (a certificate or a bootstrap token).
 */
async function startServer(clientCerts: 'require' | 'request'): Promise<{ server: TunnelServer; agentPort: number }> {
  const config: ServerConfig = defaultServerConfig({
    udsName: path.join(dir, `fe-${++n}.sock`),
    serverPort: 0,
    agentPort: 0,
    agentBindAddress: '127.0.0.1',
    clusterCert: pki.serverCert,
    clusterKey: pki.serverKey,
    clusterCaCert: pki.caCert,
    healthPort: -1,
    adminPort: -1,
    allowEphemeralPorts: true,
  });
  const extra =
    clientCerts === 'request'
      ? {
          tls: { ...(await openFileServerTls(config, silentLogger())), clientCerts: 'request' as const },
          authenticator: certificateOrToken(
            createTokenAuthenticator({
              namespace: '',
              serviceAccount: '',
              audience: '',
              reviewer: { review: () => Promise.resolve({ authenticated: false, groups: [], audiences: [] }) },
              logger: silentLogger(),
            }),
          ),
        }
      : {};
  const server = new TunnelServer(config, { logger: silentLogger(), registry: newRegistry(false), ...extra });
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort };
}

async function startAgent(agentPort: number, files: { agentCert: string; agentKey: string }): Promise<{ agent: TunnelAgent; records: Record<string, unknown>[] }> {
  const { logger, records } = recordingLogger();
  const agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      agentIdentifiers: 'host=cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: agentPort,
      caCert: pki.caCert,
      ...files,
      syncIntervalMs: 50,
      syncIntervalCapMs: 100,
      probeIntervalMs: 50,
      healthServerPort: -1,
      adminServerPort: -1,
    }),
    { logger, registry: newRegistry(false) },
  );
  cleanup.push(() => agent.stop());
  await agent.start();
  return { agent, records };
}

/**
 * A bare TLS handshake with these client files against the agent port: 'accepted' once the
 * server speaks HTTP/2 (its SETTINGS frame); 'refused (...)' when the server ends the TLS
 * connection before sending a single byte.
 */
function handshake(agentPort: number, files: { agentCert: string; agentKey: string }): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: '127.0.0.1',
      port: agentPort,
      ca: readFileSync(pki.caCert),
      cert: readFileSync(files.agentCert),
      key: readFileSync(files.agentKey),
      ALPNProtocols: ['h2'],
      servername: 'localhost',
    });
    sock.once('data', () => {
      sock.destroy();
      resolve('accepted');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(`refused (${err.code ?? err.message})`));
    sock.once('close', () => resolve('refused (closed)'));
  });
}

/** The refusals the agent logged, once there are `count`. */
async function failures(records: Record<string, unknown>[], count = 2): Promise<string[]> {
  const find = (): Record<string, unknown>[] =>
    records.filter((r) => r['message'] === 'cannot connect to proxy server' || r['message'] === 'proxy server refused the connection');
  await until(() => find().length >= count, 15_000, `${count} failed connects`);
  return find().map((r) => String(r['error']));
}

const expired = (): Promise<{ agentCert: string; agentKey: string }> =>
  agentCert(ca, { notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) });
const notYetValid = (): Promise<{ agentCert: string; agentKey: string }> =>
  agentCert(ca, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) });

describe('the agent port with --cluster-ca-cert (client certificates required): refused in the TLS handshake', () => {
  it('the TLS handshake itself: a good certificate is accepted; an expired, a foreign-CA and a not-yet-valid one are cut off before HTTP/2', async () => {
    const { agentPort } = await startServer('require');
    expect(await handshake(agentPort, await agentCert(ca))).toBe('accepted');
    expect(await handshake(agentPort, await expired())).toMatch(/^refused/);
    expect(await handshake(agentPort, await agentCert(foreign))).toMatch(/^refused/);
    expect(await handshake(agentPort, await notYetValid())).toMatch(/^refused/);
  });

  it('an expired agent certificate: never registered; the agent says it expired', async () => {
    const { server, agentPort } = await startServer('require');
    const { agent, records } = await startAgent(agentPort, await expired());
    const errors = await failures(records);
    for (const e of errors) expect(e).toMatch(/^cannot connect to the server: .*: the agent certificate \(CN=tunnel-agent:cluster-a, O=tunnel.tkestack.io:agents, serial \w+\) expired at \S+; the server refuses it/);
    expect(agent.ready).toBe(false);
    expect(server.stats().agents).toBe(0);
  });

  it('a certificate of a foreign CA with the right CN: never registered, and no connection is ever made', async () => {
    const { server, agentPort } = await startServer('require');
    const { agent, records } = await startAgent(agentPort, await agentCert(foreign));
    const errors = await failures(records, 3);
    // The handshake fails: the agent never gets as far as a Connect the server could answer.
    for (const e of errors) expect(e).toMatch(/^cannot connect to the server: /);
    expect(records.some((r) => r['message'] === 'connected to proxy server')).toBe(false);
    expect(agent.ready).toBe(false);
    expect(server.stats().agents).toBe(0);
  });

  it('a certificate not valid yet (clock skew): never registered; the agent points at the clocks', async () => {
    const { server, agentPort } = await startServer('require');
    const { agent, records } = await startAgent(agentPort, await notYetValid());
    for (const e of await failures(records)) expect(e).toMatch(/is not valid until \S+ by this machine's clock; .*check clock synchronisation$/);
    expect(agent.ready).toBe(false);
    expect(server.stats().agents).toBe(0);
  });
});

describe('the agent port in csr mode (a certificate of the tunnel CA, or a bootstrap token)', () => {
  it('an expired, a foreign-CA and a not-yet-valid certificate are not taken as an identity: never registered, refused as unauthenticated', async () => {
    const { server, agentPort } = await startServer('request');
    for (const [what, files] of [
      ['expired', await expired()],
      ['foreign CA', await agentCert(foreign)],
      ['not yet valid', await notYetValid()],
    ] as const) {
      const { agent, records } = await startAgent(agentPort, files);
      const errors = await failures(records);
      for (const e of errors) {
        expect(e).toMatch(/^server refused the connection \(Unauthenticated\): a client certificate of the tunnel CA is required/);
        if (what === 'expired') expect(e).toMatch(/expired at \S+; the server refuses it/);
        if (what === 'not yet valid') expect(e).toMatch(/is not valid until \S+ by this machine's clock/);
      }
      expect(agent.ready).toBe(false);
      expect(server.stats().agents).toBe(0);
      await agent.stop();
    }
  });
});
