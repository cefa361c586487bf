/**
 * The server binds an agent's identity to what it proved: a certificate
 * `CN=tunnel-agent:<cluster>` (as the tunnel signer issues them), or the
 * bootstrap token of `<namespace>/tunnel-bootstrap-<cluster>` (csr mode),
 * may announce agent id and host `<cluster>` only. Certificates of any other
 * form (upstream proxy-agent ones from files) stay unbound, as upstream.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentConfig, defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { DevCA, type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import type { TokenReviewer } from '../../src/kube/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { bootstrapTokenRule, certificateOrToken } from '../../src/server/auth/bootstrap-token.js';
import { createTokenAuthenticator } from '../../src/server/auth/token-authenticator.js';
import type { AgentAuthenticator } from '../../src/server/auth/types.js';
import { defaultServerConfig } from '../../src/server/defaults.js';
import { type ServerConfig, TunnelServer } from '../../src/server/index.js';
import { openFileServerTls } from '../../src/server/server-tls.js';
import { recordingLogger, until } from '../support/agent-peers.js';

let dir: string;
let ca: DevCA;
let pki: DevPkiFiles;
const cleanup: (() => Promise<void> | void)[] = [];
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wiring-binding-'));
  ca = await DevCA.create();
  pki = await writeDevPki(path.join(dir, 'pki'), { ca });
});
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a client certificate with this CN; returns its files. */
async function agentCert(cn: string): Promise<{ cert: string; key: string }> {
  const pair = await ca.issue({ commonName: cn, organization: ['tunnel.tkestack.io:agents'], usage: 'client' });
  const base = path.join(dir, `agent-${++n}`);
  writeFileSync(`${base}.crt`, pair.cert);
  writeFileSync(`${base}.key`, pair.key, { mode: 0o600 });
  return { cert: `${base}.crt`, key: `${base}.key` };
}

async function startServer(o: { tokens?: boolean; bindAgentIdToCn?: boolean } = {}): Promise<{ server: TunnelServer; agentPort: number }> {
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
    bindAgentIdToCn: o.bindAgentIdToCn ?? false,
  });
  let extra: { tls?: Awaited<ReturnType<typeof openFileServerTls>>; authenticator?: AgentAuthenticator } = {};
  if (o.tokens) {
    // As csr mode runs it: a client certificate is asked for, not required; else a bootstrap token.
    const reviewer: TokenReviewer = {
      review: (token) =>
        Promise.resolve(
          token === 'token-of-cluster-a'
            ? { authenticated: true, username: 'system:serviceaccount:kube-system:tunnel-bootstrap-cluster-a', groups: [], audiences: [] }
            : { authenticated: false, groups: [], audiences: [] },
        ),
    };
    const tokens = createTokenAuthenticator({
      namespace: '',
      serviceAccount: '',
      audience: '',
      reviewer,
      logger: silentLogger(),
      extraUsers: bootstrapTokenRule('kube-system'),
    });
    extra = { tls: { ...(await openFileServerTls(config, silentLogger())), clientCerts: 'request' }, authenticator: certificateOrToken(tokens) };
  }
  const server = new TunnelServer(config, { logger: silentLogger(), registry: newRegistry(false), ...extra });
  const addrs = await server.start();
  cleanup.push(() => server.shutdown({ graceful: false }));
  return { server, agentPort: addrs.agentPort };
}

async function startAgent(agentPort: number, o: Partial<AgentConfig>): Promise<{ agent: TunnelAgent; records: Record<string, unknown>[] }> {
  const { logger, records } = recordingLogger();
  const agent = new TunnelAgent(
    defaultAgentConfig({
      proxyServerHost: '127.0.0.1',
      proxyServerPort: agentPort,
      caCert: pki.caCert,
      syncIntervalMs: 50,
      syncIntervalCapMs: 100,
      probeIntervalMs: 50,
      healthServerPort: -1,
      adminServerPort: -1,
      ...o,
    }),
    { logger, registry: newRegistry(false) },
  );
  cleanup.push(() => agent.stop());
  await agent.start();
  return { agent, records };
}

/** The first refusal the agent logged, once there is one. */
async function refusal(records: Record<string, unknown>[]): Promise<string> {
  const find = (): Record<string, unknown> | undefined => records.find((r) => r['message'] === 'proxy server refused the connection');
  await until(() => find() !== undefined, 10_000, 'a refusal');
  return String(find()!['error']);
}

describe('an agent certificate CN=tunnel-agent:<cluster>', () => {
  it('connects as its own cluster', async () => {
    const { server, agentPort } = await startServer();
    const files = await agentCert('tunnel-agent:cluster-a');
    const { agent } = await startAgent(agentPort, { agentID: 'cluster-a', agentIdentifiers: 'host=cluster-a', agentCert: files.cert, agentKey: files.key });
    await until(() => agent.ready, 10_000, 'agent connected');
    expect(server.stats().agents).toBe(1);
  });

  it('is refused when it announces another cluster as its agent id', async () => {
    const { server, agentPort } = await startServer();
    const files = await agentCert('tunnel-agent:cluster-a');
    const { agent, records } = await startAgent(agentPort, { agentID: 'cluster-b', agentCert: files.cert, agentKey: files.key });
    expect(await refusal(records)).toBe(
      'server refused the connection (PermissionDenied): agent ID "cluster-b" is not allowed for identity "tunnel-agent:cluster-a"',
    );
    expect(agent.ready).toBe(false);
    expect(server.stats().agents).toBe(0);
  });

  it('is refused when it announces another cluster as host=', async () => {
    const { server, agentPort } = await startServer();
    const files = await agentCert('tunnel-agent:cluster-a');
    const { records } = await startAgent(agentPort, { agentID: 'cluster-a', agentIdentifiers: 'host=cluster-b', agentCert: files.cert, agentKey: files.key });
    expect(await refusal(records)).toBe(
      'server refused the connection (PermissionDenied): host identifier "cluster-b" not allowed for identity "tunnel-agent:cluster-a"',
    );
    expect(server.stats().agents).toBe(0);
  });
});

describe('a certificate of another form (an upstream proxy-agent certificate)', () => {
  it('stays unbound: any agent id and host, as with upstream proxy-server', async () => {
    const { server, agentPort } = await startServer();
    const files = await agentCert('konnectivity-agent');
    const { agent } = await startAgent(agentPort, { agentID: 'node-17', agentIdentifiers: 'host=anything', agentCert: files.cert, agentKey: files.key });
    await until(() => agent.ready, 10_000, 'agent connected');
    expect(server.stats().agents).toBe(1);
  });
});

describe('--bind-agent-id-to-cn: a certificate of another form binds to its own CN', () => {
  it('connects with the agent id and host equal to its CN', async () => {
    const { server, agentPort } = await startServer({ bindAgentIdToCn: true });
    const files = await agentCert('cluster-c');
    const { agent } = await startAgent(agentPort, { agentID: 'cluster-c', agentIdentifiers: 'host=cluster-c', agentCert: files.cert, agentKey: files.key });
    await until(() => agent.ready, 10_000, 'agent connected');
    expect(server.stats().agents).toBe(1);
  });

  it('is refused when it announces another agent id, or another host', async () => {
    const { server, agentPort } = await startServer({ bindAgentIdToCn: true });
    const files = await agentCert('cluster-c');
    const other = await startAgent(agentPort, { agentID: 'cluster-d', agentCert: files.cert, agentKey: files.key });
    expect(await refusal(other.records)).toBe(
      'server refused the connection (PermissionDenied): agent ID "cluster-d" is not allowed for identity "cluster-c"',
    );
    const host = await startAgent(agentPort, { agentID: 'cluster-c', agentIdentifiers: 'host=cluster-d', agentCert: files.cert, agentKey: files.key });
    expect(await refusal(host.records)).toBe(
      'server refused the connection (PermissionDenied): host identifier "cluster-d" not allowed for identity "cluster-c"',
    );
    expect(server.stats().agents).toBe(0);
  });

  it('leaves tunnel-form certificates bound to their cluster, not to the whole CN', async () => {
    const { agentPort } = await startServer({ bindAgentIdToCn: true });
    const files = await agentCert('tunnel-agent:cluster-a');
    const { agent } = await startAgent(agentPort, { agentID: 'cluster-a', agentIdentifiers: 'host=cluster-a', agentCert: files.cert, agentKey: files.key });
    await until(() => agent.ready, 10_000, 'agent connected');
  });
});

describe('a bootstrap token of tunnel-bootstrap-<cluster> (csr mode)', () => {
  function tokenFile(text: string): string {
    const f = path.join(dir, `token-${++n}`);
    writeFileSync(f, text);
    return f;
  }

  it('connects as its cluster without a certificate', async () => {
    const { server, agentPort } = await startServer({ tokens: true });
    const { agent } = await startAgent(agentPort, {
      agentID: 'cluster-a',
      agentIdentifiers: 'host=cluster-a',
      serviceAccountTokenPath: tokenFile('token-of-cluster-a'),
    });
    await until(() => agent.ready, 10_000, 'agent connected');
    expect(server.stats().agents).toBe(1);
  });

  it('is refused for another cluster', async () => {
    const { agentPort } = await startServer({ tokens: true });
    const { records } = await startAgent(agentPort, { agentID: 'cluster-b', serviceAccountTokenPath: tokenFile('token-of-cluster-a') });
    expect(await refusal(records)).toBe(
      'server refused the connection (PermissionDenied): agent ID "cluster-b" is not allowed for identity "system:serviceaccount:kube-system:tunnel-bootstrap-cluster-a"',
    );
  });

  it('without a token or certificate, the refusal says what is needed', async () => {
    const { agentPort } = await startServer({ tokens: true });
    const { records } = await startAgent(agentPort, { agentID: 'cluster-a' });
    expect(await refusal(records)).toMatch(/^server refused the connection \(Unauthenticated\): a client certificate of the tunnel CA is required, or .* bootstrap ServiceAccount token/);
  });
});
