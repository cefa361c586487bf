import { afterEach, beforeAll, afterAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { agentProfile, serverProfile } from '../../../src/certs/csr-profiles.js';
import { CsrManager } from '../../../src/certs/csr-manager.js';
import { channelCredentialsFromSource, serverCredentialsFromSource } from '../../../src/certs/grpc-provider.js';
import { CsrCertificateSource } from '../../../src/certs/source-csr.js';
import { followSourceOnTlsServer } from '../../../src/certs/tls-server.js';
import { createCsrClient } from '../../../src/kube/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { changeWhere, presentedSerial, tempDir } from './helpers.js';
import { bootstrapClient, bootstrapUser, requesterFor, serverClient, signerFor } from './kube-setup.js';

const WHO = {
  path: '/test.Who/Serial',
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

function ask(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO.path, WHO.requestSerialize, WHO.responseDeserialize, Buffer.alloc(0), (err, value) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

describe('CSR manager + signer/approver against the fake API', () => {
  let fake: FakeKube;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    fake = await startFakeKube();
  });
  afterAll(() => fake.close());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('an agent identity ends up with a certificate of the tunnel CA, issued through an approved CSR', async () => {
    const signer = signerFor(fake, { caSecretName: 'ca-issue' });
    cleanups.push(() => signer.stop());
    await signer.start();
    const t = tempDir('agent');
    cleanups.push(t.remove);
    const registry = new Registry();
    const mgr = new CsrManager({
      ...agentProfile('c1'),
      certDir: t.dir,
      requester: requesterFor(bootstrapClient(fake, 'c1')),
      caPem: await signer.ca.trustBundle(),
      logger: silentLogger(),
      registry,
      expirationSeconds: 3600,
    });
    cleanups.push(() => mgr.close());
    const bundle = await mgr.start();

    const leaf = new X509Certificate(bundle.certPem);
    const ca = new X509Certificate((await signer.ca.load()).active.certPem);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subject).toBe('CN=tunnel-agent:c1\nO=tunnel.tkestack.io:agents');
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
    expect(leaf.ca).toBe(false);
    expect(bundle.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(bundle.caPem).toBe(await signer.ca.trustBundle());
    expect(statSync(mgr.files.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(t.dir).mode & 0o777).toBe(0o700);
    expect(mgr.ready()).toBe(true);

    const csrs = (await createCsrClient(fake.kubeConfig()).list()).items.filter((c) => c.certificate === bundle.certPem);
    expect(csrs).toHaveLength(1);
    expect(csrs[0]!.username).toBe(bootstrapUser('c1'));
    expect(csrs[0]!.signerName).toBe('tunnel.tkestack.io/agent');
    expect(csrs[0]!.usages).toEqual(['digital signature', 'client auth']);
    expect(csrs[0]!.expirationSeconds).toBe(3600);
    expect(csrs[0]!.conditions).toEqual([expect.objectContaining({ type: 'Approved', reason: 'TunnelPolicy' })]);
    const text = await registry.metrics();
    expect(text).toContain(`tunnel_certificate_expiration_seconds{role="agent",usage="client"} ${Math.floor(bundle.notAfter.getTime() / 1000)}`);
    expect(text).toContain('tunnel_certificate_rotations_total{role="agent",usage="client"} 1');
  });

  it('with a 3 s lifetime, certificates rotate several times and the hot-swap adapters serve each new one', async () => {
    const signer = signerFor(fake, { caSecretName: 'ca-rotate', lifetime: { certLifetimeMs: 3_000, minLifetimeMs: 1_000 } });
    cleanups.push(() => signer.stop());
    await signer.start();
    const caPem = await signer.ca.trustBundle();
    const t = tempDir('rotate');
    cleanups.push(t.remove);
    const common = { certDir: t.dir, caPem, logger: silentLogger(), random: () => 0.5 };
    const serverMgr = new CsrManager({
      ...serverProfile({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
      ...common,
      requester: requesterFor(serverClient(fake)),
    });
    const agentMgr = new CsrManager({ ...agentProfile('c2'), ...common, expirationSeconds: 600, requester: requesterFor(bootstrapClient(fake, 'c2')) });
    cleanups.push(() => serverMgr.close(), () => agentMgr.close());
    await Promise.all([serverMgr.start(), agentMgr.start()]);
    const serverSource = new CsrCertificateSource(serverMgr);
    const agentSource = new CsrCertificateSource(agentMgr);
    const first = agentSource.current();
    // expirationSeconds 600 is capped at --cert-lifetime (3 s).
    expect(first.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(3_000);

    // A grpc-js server (mTLS) and a tls.Server, both following the server identity.
    const server = new grpc.Server();
    server.addService({ Serial: WHO } as grpc.ServiceDefinition, {
      Serial: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(call.getAuthContext().sslPeerCertificate?.serialNumber ?? 'none')),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentialsFromSource(serverSource), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const plain = tls.createServer({ ...{ cert: serverSource.current().certPem, key: serverSource.current().keyPem } }, (s) => s.pipe(s));
    cleanups.push(followSourceOnTlsServer(plain, serverSource, silentLogger()));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => plain.close(() => r())));
    const plainPort = (plain.address() as AddressInfo).port;
    const channel = (): grpc.Client =>
      new grpc.Client(`127.0.0.1:${port}`, channelCredentialsFromSource(agentSource), { 'grpc.use_local_subchannel_pool': 1 });
    const established = channel();
    cleanups.push(() => established.close());
    expect(await ask(established)).toBe(first.serialNumber);

    const serverSerials = new Set([serverSource.current().serialNumber]);
    const agentSerials = new Set([first.serialNumber]);
    for (let round = 0; round < 3; round++) {
      const prevServer = serverSource.current().serialNumber;
      const prevAgent = agentSource.current().serialNumber;
      const [s, a] = await Promise.all([
        changeWhere(serverSource, (b) => b.serialNumber !== prevServer, 10_000),
        changeWhere(agentSource, (b) => b.serialNumber !== prevAgent, 10_000),
      ]);
      serverSerials.add(s.serialNumber);
      agentSerials.add(a.serialNumber);
      const now = serverSource.current();
      const client = { ca: caPem, cert: agentSource.current().certPem, key: agentSource.current().keyPem, alpn: ['h2'] };
      expect(await presentedSerial(port, client)).toBe(now.serialNumber);
      expect(await presentedSerial(plainPort, { ca: caPem })).toBe(now.serialNumber);
      const fresh = channel();
      expect(await ask(fresh)).toBe(agentSource.current().serialNumber);
      fresh.close();
      // The connection made before any rotation still works (with the first, by now expired, agent certificate).
      expect(await ask(established)).toBe(first.serialNumber);
    }
    expect(serverSerials.size).toBeGreaterThanOrEqual(4);
    expect(agentSerials.size).toBeGreaterThanOrEqual(4);
    expect(serverMgr.ready()).toBe(true);
    expect(agentMgr.status().consecutiveFailures).toBe(0);
  }, 30_000);
});
