import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import type tls from 'node:tls';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { createTunnel, kubeConfigThroughTunnel, type Tunnel, type TunnelKubeConfig } from '../../../src/client/index.js';
import { PacketType } from '../../../src/protocol/index.js';
import { FakeProxyServer } from '../../support/fake-proxy-server.js';
import { tempDir } from './helpers.js';

/** What the fake apiserver saw of one request. */
interface Seen {
  path: string;
  authorization: string | undefined;
  clientCN: string | undefined;
}

const CLUSTER_HOST = 'managed-cluster.internal';

let dir: string;
let fake: FakeProxyServer;
let tunnel: Tunnel;
let apiserver: https.Server;
let apiPort: number;
let tlsConnections = 0;
const seen: Seen[] = [];
let kc: TunnelKubeConfig;

beforeAll(async () => {
  dir = tempDir();
  const ca = await DevCA.create('managed cluster CA');
  const serving = await ca.issue({ commonName: 'kube-apiserver', dnsNames: [CLUSTER_HOST], usage: 'server' });
  const admin = await ca.issue({ commonName: 'platform-admin', usage: 'client' });

  // A tiny apiserver: mTLS, bearer token, GET /api/v1/namespaces.
  apiserver = https.createServer({ cert: serving.cert, key: serving.key, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const cn = (req.socket as tls.TLSSocket).getPeerCertificate().subject?.CN;
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization, clientCN: Array.isArray(cn) ? cn[0] : cn });
    if (req.method === 'GET' && req.url?.startsWith('/api/v1/namespaces')) {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '42' },
          items: ['default', 'kube-system'].map((name) => ({ metadata: { name }, status: { phase: 'Active' } })),
        }),
      );
      return;
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });
  apiserver.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((r) => apiserver.listen(0, '127.0.0.1', r));
  apiPort = (apiserver.address() as net.AddressInfo).port;

  // The fake tunnel resolves the cluster name on its side, as an agent does.
  fake = await FakeProxyServer.start({
    uds: path.join(dir, 'proxy.sock'),
    behaviour: (req) => (req.address === `${CLUSTER_HOST}:${apiPort}` ? { kind: 'relay', to: `127.0.0.1:${apiPort}` } : { kind: 'error', text: 'unexpected address' }),
  });
  tunnel = await createTunnel({ uds: path.join(dir, 'proxy.sock') });

  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const plain = new KubeConfig();
  plain.loadFromOptions({
    clusters: [{ name: 'managed', server: `https://${CLUSTER_HOST}:${apiPort}`, caData: b64(ca.certPem), skipTLSVerify: false }],
    users: [{ name: 'admin', token: 'managed-cluster-token', certData: b64(admin.cert), keyData: b64(admin.key) }],
    contexts: [{ name: 'managed', cluster: 'managed', user: 'admin' }],
    currentContext: 'managed',
  });
  kc = kubeConfigThroughTunnel(plain, tunnel);
});

afterAll(async () => {
  kc.destroyAgents();
  await tunnel.close();
  await fake.stop();
  apiserver.closeAllConnections();
  await new Promise<void>((r) => apiserver.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('kubeConfigThroughTunnel', () => {
  it('lets CoreV1Api list namespaces of a cluster only reachable through the tunnel, keeping its TLS and token', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const list = await api.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(['default', 'kube-system']);

    const again = await api.listNamespace();
    expect(again.metadata?.resourceVersion).toBe('42');

    // The requests came through the tunnel...
    const dials = fake.received(PacketType.DIAL_REQ).map((p) => p.dialRequest.address);
    expect(dials).toEqual([`${CLUSTER_HOST}:${apiPort}`]);
    // ...with the cluster's credentials: bearer token and client certificate, over TLS checked against the cluster CA.
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s).toMatchObject({ path: '/api/v1/namespaces', authorization: 'Bearer managed-cluster-token', clientCN: 'platform-admin' });
    }
    // one kept-alive connection for both requests
    expect(tlsConnections).toBe(1);
  });

  it('surfaces a failed dial as the API call error', async () => {
    const other = new KubeConfig();
    other.loadFromOptions({
      clusters: [{ name: 'x', server: 'https://unknown-cluster.internal:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'x', user: 'u' }],
      currentContext: 'x',
    });
    const viaTunnel = kubeConfigThroughTunnel(other, tunnel);
    try {
      await expect(viaTunnel.makeApiClient(CoreV1Api).listNamespace()).rejects.toThrow(/unexpected address/);
    } finally {
      viaTunnel.destroyAgents();
    }
  });
});
