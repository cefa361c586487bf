/**
 * Agent certificates the server must not accept, on a real agent port
 * (127.0.0.1, port 0) with a real agent: one that expired, one signed by a
 * foreign CA with the right CN (`tunnel-agent:<cluster>`, another dev CA of
 * the same name), and one not valid yet (clock skew beyond the backdate).
 * With --cluster-ca-cert the TLS handshake refuses them; in csr mode (where
 * the port must also let bootstrap agents in without a certificate) a client
 * that presents a certificate that does not verify is cut off right after
 * the handshake, before HTTP/2 (src/server/agent-tls-gate.ts), while one
 * that presents none still reaches Connect with its token. None is ever
 * registered; the server logs why (peer, CN, serial, the cause in words) and
 * counts it, and the agent's log says what is wrong when its own
 * certificate's dates are the cause.
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
import { bootstrapTokenRule, certificateOrToken } from '../../src/server/auth/bootstrap-token.js';
import { createTokenAuthenticator } from '../../src/server/auth/token-authenticator.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { openFileServerTls } from '../../src/server/server-tls.js';
import { recordingLogger, until } from '../support/agent-peers.js';

const BOOTSTRAP_TOKEN = 'bootstrap-token-of-cluster-a';

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
async function startServer(clientCerts: 'require' | 'request'): Promise<{ server: TunnelServer; agentPort: number; log: Record<string, unknown>[] }> {
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
              // One good token: cluster-a's bootstrap ServiceAccount.
              reviewer: {
                review: (token) =>
                  Promise.resolve(
                    token === BOOTSTRAP_TOKEN
                      ? { authenticated: true, username: 'system:serviceaccount:kube-system:tunnel-bootstrap-cluster-a', groups: [], audiences: [] }
                      : { authenticated: false, groups: [], audiences: [] },
                  ),
              },
              extraUsers: bootstrapTokenRule('kube-system'),
              logger: silentLogger(),
            }),
          ),
        }
      : {};
  const { logger, records } = recordingLogger();
  const server = new TunnelServer(config, { logger, registry: newRegistry(false), ...extra });
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort, log: records };
}

async function startAgent(
  agentPort: number,
  files: { agentCert: string; agentKey: string } | { serviceAccountTokenPath: string },
): Promise<{ agent: TunnelAgent; records: Record<string, unknown>[] }> {
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
 * A bare TLS handshake with these client files (none: no client certificate) against the agent
 * port: 'accepted' once the server speaks HTTP/2 (its SETTINGS frame); 'refused (...)' when the
 * server ends the TLS connection before sending a single byte.
 */
function handshake(agentPort: number, files?: { agentCert: string; agentKey: string }): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: '127.0.0.1',
      port: agentPort,
      ca: readFileSync(pki.caCert),
      ...(files ? { cert: readFileSync(files.agentCert), key: readFileSync(files.agentKey) } : {}),
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

/** The server's refusal log lines, once there are `count`. */
async function serverRefusals(log: Record<string, unknown>[], count: number): Promise<Record<string, unknown>[]> {
  const find = (): Record<string, unknown>[] => log.filter((r) => r['message'] === 'agent certificate refused in the TLS handshake');
  await until(() => find().length >= count, 5_000, `${count} refusals in the server log`);
  return find();
}

/** bad_input_total{source="agent"} by reason. */
async function badInput(server: TunnelServer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await server.metrics.badInput.get()).values) if (v.labels['source'] === 'agent') out[String(v.labels['reason'])] = v.value;
  return out;
}

describe('the agent port in csr mode (a certificate of the tunnel CA, or a bootstrap token)', () => {
  it('the TLS handshake itself: an expired, a foreign-CA and a not-yet-valid certificate are cut off before HTTP/2, each logged and counted; a good one and none at all are accepted', async () => {
    const { server, agentPort, log } = await startServer('request');
    expect(await handshake(agentPort, await agentCert(ca))).toBe('accepted');
    expect(await handshake(agentPort)).toBe('accepted');
    expect(await handshake(agentPort, await expired())).toMatch(/^refused/);
    expect(await handshake(agentPort, await agentCert(foreign))).toMatch(/^refused/);
    expect(await handshake(agentPort, await notYetValid())).toMatch(/^refused/);

    const [exp, alien, early] = await serverRefusals(log, 3);
    for (const r of [exp, alien, early]) {
      expect(r).toMatchObject({ level: 'warn', subject: 'CN=tunnel-agent:cluster-a', serial: expect.stringMatching(/^[0-9A-F]+$/) });
      expect(r!['peer']).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(exp).toMatchObject({ code: 'CERT_HAS_EXPIRED', error: expect.stringMatching(/^expired at \d{4}-\d\d-\d\dT\S+Z$/) });
    expect(alien).toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', error: expect.stringMatching(/^not signed by the tunnel CA/) });
    expect(early).toMatchObject({
      code: 'CERT_NOT_YET_VALID',
      error: expect.stringMatching(/^not valid until \d{4}-\d\d-\d\dT\S+Z by this server's clock: check clock synchronisation/),
    });
    expect(await badInput(server)).toMatchObject({ tls_cert_expired: 1, tls_cert_untrusted: 1, tls_cert_not_yet_valid: 1 });
    expect(server.stats().agents).toBe(0);
  });

  it('agents with an expired, a foreign-CA and a not-yet-valid certificate: never registered, no connection is ever made; the agent names its dates', async () => {
    const { server, agentPort, log } = await startServer('request');
    let refusals = 0;
    for (const [what, files] of [
      ['expired', await expired()],
      ['foreign CA', await agentCert(foreign)],
      ['not yet valid', await notYetValid()],
    ] as const) {
      const { agent, records } = await startAgent(agentPort, files);
      const errors = await failures(records);
      for (const e of errors) {
        // Refused at the TLS layer: the agent never gets as far as a Connect the server could answer.
        expect(e).toMatch(/^cannot connect to the server: /);
        if (what === 'expired') expect(e).toMatch(/expired at \S+; the server refuses it/);
        if (what === 'not yet valid') expect(e).toMatch(/is not valid until \S+ by this machine's clock/);
      }
      expect(records.some((r) => r['message'] === 'connected to proxy server')).toBe(false);
      expect(agent.ready).toBe(false);
      expect(server.stats().agents).toBe(0);
      await agent.stop();
      refusals += errors.length;
    }
    expect((await serverRefusals(log, refusals)).length).toBeGreaterThanOrEqual(refusals);
    expect(log.some((r) => r['message'] === 'agent refused')).toBe(false); // never reached Connect
  });

  it('an agent without a certificate still gets through to Connect: with its bootstrap token it registers, without one Connect refuses it', async () => {
    const { server, agentPort, log } = await startServer('request');
    const tokenFile = path.join(dir, `token-${++n}`);
    writeFileSync(tokenFile, BOOTSTRAP_TOKEN);
    const { agent } = await startAgent(agentPort, { serviceAccountTokenPath: tokenFile });
    await until(() => agent.ready && server.stats().agents === 1, 10_000, 'the token agent registered');
    await agent.stop();

    const wrong = path.join(dir, `token-${++n}`);
    writeFileSync(wrong, 'not-a-token');
    const { agent: refused, records } = await startAgent(agentPort, { serviceAccountTokenPath: wrong });
    for (const e of await failures(records)) expect(e).toMatch(/^server refused the connection \(Unauthenticated\): token not valid/);
    expect(refused.ready).toBe(false);
    expect(log.some((r) => r['message'] === 'agent certificate refused in the TLS handshake')).toBe(false);
  });
});

describe('the server log of handshakes Node refuses itself (--cluster-ca-cert)', () => {
  it('an expired, a foreign-CA and a not-yet-valid certificate, and none at all: logged with the peer and the cause, counted', async () => {
    const { server, agentPort, log } = await startServer('require');
    expect(await handshake(agentPort, await expired())).toMatch(/^refused/);
    expect(await handshake(agentPort, await agentCert(foreign))).toMatch(/^refused/);
    expect(await handshake(agentPort, await notYetValid())).toMatch(/^refused/);
    expect(await handshake(agentPort)).toMatch(/^refused/);
    const all = await serverRefusals(log, 4);
    for (const r of all) expect(r['peer']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(all.map((r) => r['error'])).toEqual([
      'expired',
      expect.stringMatching(/^not signed by the CA of --cluster-ca-cert/),
      expect.stringMatching(/^not valid yet by this server's clock: check clock synchronisation/),
      expect.stringMatching(/^no client certificate presented/),
    ]);
    expect(await badInput(server)).toMatchObject({ tls_cert_expired: 1, tls_cert_untrusted: 1, tls_cert_not_yet_valid: 1, tls_no_certificate: 1 });
  });
});
