import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import type { CertificateBundle } from '../../../src/certs/bundle.js';
import type { CertClock } from '../../../src/certs/clock.js';
import { systemClock } from '../../../src/certs/clock.js';
import { CsrManager } from '../../../src/certs/csr-manager.js';
import { agentProfile } from '../../../src/certs/csr-profiles.js';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { tempDir, until } from './helpers.js';
import { bootstrapClient, captureLogger, requesterFor, signerFor } from './kube-setup.js';


/** Whether a TLS server that verifies client certificates against `caPem` accepts `client` now. */
async function clientCertAccepted(server: DevCA, caPem: string, client: CertificateBundle): Promise<{ ok: boolean; err?: string }> {
  const leaf = await server.issue({ commonName: 'localhost', usage: 'server', dnsNames: ['localhost'] });
  // rejectUnauthorized false so the server can say why it would refuse (authorizationError).
  const srv = tls.createServer({ cert: leaf.cert, key: leaf.key, ca: caPem, requestCert: true, rejectUnauthorized: false });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    const result = new Promise<{ ok: boolean; err?: string }>((resolve) => {
      srv.once('secureConnection', (s) => {
        s.end();
        resolve(s.authorized ? { ok: true } : { ok: false, err: String(s.authorizationError) });
      });
      srv.once('tlsClientError', (e) => resolve({ ok: false, err: e.message }));
    });
    const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, servername: 'localhost', ca: server.certPem, cert: client.certPem, key: client.keyPem });
    c.on('error', () => undefined);
    const r = await result;
    c.destroy();
    return r;
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

describe('CSR bad input and odd conditions against the fake API', () => {
  let fake: FakeKube;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    fake = await startFakeKube();
  });
  afterAll(() => fake.close());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a CSR that stays pending is a clear error, then a retry succeeds once the signer runs', async () => {
    const t = tempDir('pending');
    cleanups.push(t.remove);
    const { logger, lines } = captureLogger();
    const registry = new Registry();
    const m = new CsrManager({
      ...agentProfile('slow'),
      certDir: t.dir,
      requester: requesterFor(bootstrapClient(fake, 'slow'), 300),
      logger,
      registry,
      retry: { initialMs: 100, jitter: 0 },
    });
    cleanups.push(() => m.close());
    const started = m.start();
    await until(() => m.status().consecutiveFailures >= 1);
    expect(m.status().lastError).toMatch(/^certificate signing request tunnel-agent-slow-\w+ is still pending after 0 s: nobody approved or denied it \(is the tunnel server's signer running for tunnel\.tkestack\.io\/agent\?\)$/);
    expect(lines.find((l) => l.message === 'could not obtain a certificate; will retry')).toMatchObject({ code: 'ERR_CSR_PENDING_TIMEOUT' });
    expect(m.ready()).toBe(false);

    const signer = signerFor(fake, { caSecretName: 'ca-pending' });
    cleanups.push(() => signer.stop());
    await signer.start();
    const bundle = await started;
    expect(bundle.subject).toBe('CN=tunnel-agent:slow\nO=tunnel.tkestack.io:agents');
    expect(m.ready()).toBe(true);
    expect(await registry.metrics()).toMatch(/tunnel_certificate_rotation_failures_total\{role="agent",usage="client",reason="ERR_CSR_PENDING_TIMEOUT"\} [1-9]/);
  });

  it('clock skew: notBefore is backdated, so a peer whose clock is 3 minutes behind the signer accepts the certificate at once', async () => {
    const ahead = (ms: number): CertClock => ({ ...systemClock, now: () => Date.now() + ms });
    const serverCa = await DevCA.create('skew server CA');
    for (const [backdateMs, accepted] of [
      [undefined, true],
      [0, false],
    ] as const) {
      const name = `ca-skew-${backdateMs ?? 'default'}`;
      const signer = signerFor(fake, { caSecretName: name, clock: ahead(3 * 60_000), lifetime: { certLifetimeMs: 3_600_000, ...(backdateMs !== undefined ? { backdateMs } : {}) } });
      cleanups.push(() => signer.stop());
      await signer.start();
      const t = tempDir('skew');
      cleanups.push(t.remove);
      const { logger, lines } = captureLogger();
      const m = new CsrManager({ ...agentProfile(`skew${backdateMs ?? ''}`), certDir: t.dir, requester: requesterFor(bootstrapClient(fake, `skew${backdateMs ?? ''}`)), logger });
      cleanups.push(() => m.close());
      const bundle = await m.start();
      const result = await clientCertAccepted(serverCa, await signer.ca.trustBundle(), bundle);
      expect(result.ok).toBe(accepted);
      if (accepted) {
        expect(bundle.notBefore.getTime()).toBeLessThan(Date.now());
      } else {
        // Without the backdate the certificate is from the future: peers refuse it, and the manager says why.
        expect(result.err).toBe('CERT_NOT_YET_VALID');
        expect(lines.some((l) => typeof l.message === 'string' && l.message.startsWith('the new certificate is not valid yet by the local clock'))).toBe(true);
        expect(m.current()).toBeDefined();
      }
      // One signer at a time: both would act on every CSR of the tunnel's signers.
      await m.close();
      await signer.stop();
    }
  });

  it('an invalid lifetime policy is refused when the controller is built', () => {
    expect(() => signerFor(fake, { lifetime: { certLifetimeMs: 60_000 } })).toThrow(
      expect.objectContaining({ code: 'ERR_CERT_CONFIG', message: 'certificate lifetime 60000 ms must be at least the floor of 600000 ms' }),
    );
  });
});
