import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { CertError } from '../../../src/certs/errors.js';
import { CsrManager, type CsrManagerOptions } from '../../../src/certs/csr-manager.js';
import { agentProfile } from '../../../src/certs/csr-profiles.js';
import { parseCsrPem } from '../../../src/certs/csr-request.js';
import type { CertificateRequester } from '../../../src/certs/csr-requester.js';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { issueLeaf, loadSigningCa, type SigningCa } from '../../../src/certs/leaf-issuer.js';
import { fakeCertClock, tempDir, until } from './helpers.js';
import { captureLogger } from './kube-setup.js';

const HOUR = 3_600_000;


describe('CsrManager on a fake clock', () => {
  let ca: DevCA;
  let signing: SigningCa;
  beforeAll(async () => {
    ca = await DevCA.create('manager test CA');
    signing = await loadSigningCa({ certPem: ca.certPem, keyPem: ca.keyPem }, 'test CA');
  });
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A manager whose requester signs at once with the test CA (1 h, no backdate), unless `failing.on`. */
  function setup(extra: Partial<CsrManagerOptions> = {}, dir?: string) {
    const { fake, clock } = fakeCertClock();
    const t = dir ? { dir, remove: () => undefined } : tempDir('mgr');
    cleanups.push(t.remove);
    const failing = { on: false, calls: 0 };
    const requester: CertificateRequester = async (req) => {
      failing.calls += 1;
      if (failing.on) throw new CertError('ERR_CSR_PENDING_TIMEOUT', 'certificate signing request x is still pending');
      return issueLeaf({ ca: signing, request: parseCsrPem(req.csrPem), usages: req.usages, now: fake.now, lifetimeMs: HOUR, backdateMs: 0 });
    };
    const { logger, lines } = captureLogger();
    const registry = new Registry();
    const make = (more: Partial<CsrManagerOptions> = {}): CsrManager => {
      const m = new CsrManager({
        ...agentProfile('c1'),
        certDir: t.dir,
        requester,
        caPem: ca.certPem,
        logger,
        clock,
        registry,
        random: () => 0,
        retry: { initialMs: 60_000, maxMs: 60_000, jitter: 0 },
        ...extra,
        ...more,
      });
      cleanups.push(() => m.close());
      return m;
    };
    return { fake, clock, dir: t.dir, failing, lines, registry, make };
  }

  it('reuses a stored certificate that is still good, without asking for a new one', async () => {
    const s = setup();
    const first = await s.make().start();
    expect(s.failing.calls).toBe(1);
    const second = await s.make().start();
    expect(second.serialNumber).toBe(first.serialNumber);
    expect(s.failing.calls).toBe(1);
    expect(s.lines.some((l) => l.message === 'using the stored certificate')).toBe(true);
  });

  it('renews at start a stored certificate that expired while offline', async () => {
    const s = setup();
    const first = await s.make().start();
    s.fake.setSystemTime(first.notAfter.getTime() + 60_000);
    const m = s.make();
    const renewed = await m.start();
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(s.fake.now);
    expect(s.lines.some((l) => l.message === 'stored certificate expired; requesting a new one')).toBe(true);
    expect(readFileSync(m.files.certFile, 'utf8')).toBe(renewed.certPem);
  });

  it.each([
    ['a corrupt key', (keyFile: string) => writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\ngarbage\n'), /key: not well-formed PEM/],
    ['a key of another certificate', (keyFile: string, other: string) => writeFileSync(keyFile, other), /private key does not match the certificate/],
    ['a truncated certificate', (_k: string, _o: string, certFile: string) => writeFileSync(certFile, readFileSync(certFile, 'utf8').slice(0, 200)), /certificate: not well-formed PEM/],
  ])('logs %s in the store and replaces the pair', async (_what, damage, reason) => {
    const s = setup();
    const m0 = s.make();
    const first = await m0.start();
    await m0.close();
    damage(m0.files.keyFile, (await ca.issue({ commonName: 'x', usage: 'client' })).key, m0.files.certFile);
    const m = s.make();
    const fresh = await m.start();
    expect(fresh.serialNumber).not.toBe(first.serialNumber);
    const warn = s.lines.find((l) => l.message === 'stored certificate or key is unusable; requesting a new one');
    expect(String(warn?.reason)).toMatch(reason);
    expect(statSync(m.files.keyFile).mode & 0o777).toBe(0o600);
  });

  it('renews at the jittered point (70 % with the lowest draw) and tells its listeners', async () => {
    const s = setup();
    const m = s.make();
    const first = await m.start();
    const due = first.notBefore.getTime() + 0.7 * (first.notAfter.getTime() - first.notBefore.getTime());
    expect(m.status().nextAttemptAt?.getTime()).toBe(due);
    const changed = new Promise<string>((r) => m.onChange((b) => r(b.serialNumber)));
    s.fake.tick(due - s.fake.now - 1);
    expect(s.failing.calls).toBe(1);
    s.fake.tick(1);
    const serial = await changed;
    expect(serial).not.toBe(first.serialNumber);
    expect(s.failing.calls).toBe(2);

    const late = setup({ random: () => 0.999 });
    const lm = late.make();
    const b = await lm.start();
    const at = lm.status().nextAttemptAt!.getTime();
    expect((at - b.notBefore.getTime()) / (b.notAfter.getTime() - b.notBefore.getTime())).toBeCloseTo(0.9, 2);
  });

  it('retries with backoff while renewal fails, turns not ready under 10 % left, and recovers', async () => {
    const s = setup();
    const m = s.make();
    const first = await m.start();
    const life = first.notAfter.getTime() - first.notBefore.getTime();
    s.failing.on = true;
    s.fake.tick(0.7 * life);
    await until(() => m.status().consecutiveFailures === 1);
    expect(m.status().nextAttemptAt?.getTime()).toBe(s.fake.now + 60_000);
    expect(m.ready()).toBe(true);
    // Keep failing every minute until under 10 % of the lifetime is left.
    while (s.fake.now < first.notBefore.getTime() + 0.9 * life) {
      const n = m.status().consecutiveFailures;
      s.fake.tick(60_000);
      await until(() => m.status().consecutiveFailures === n + 1);
    }
    expect(m.ready()).toBe(false);
    expect(m.check()).toMatch(new RegExp(`^agent certificate ${first.serialNumber} expires at .* \\(under 10 % of its lifetime left\\) and has not been renewed; last attempt failed: certificate signing request x is still pending$`));
    const text = await s.registry.metrics();
    expect(text).toMatch(/tunnel_certificate_rotation_failures_total\{role="agent",usage="client",reason="ERR_CSR_PENDING_TIMEOUT"\} (1[3-9]|[2-9]\d)/);

    s.failing.on = false;
    const changed = new Promise<void>((r) => m.onChange(() => r()));
    s.fake.tick(60_000);
    await changed;
    expect(m.ready()).toBe(true);
    expect(m.status().consecutiveFailures).toBe(0);
    expect(await s.registry.metrics()).toContain('tunnel_certificate_rotations_total{role="agent",usage="client"} 2');
  });

  it('keeps retrying a first certificate until it comes, and close() ends the wait', async () => {
    const s = setup();
    s.failing.on = true;
    const m = s.make();
    const started = m.start();
    await until(() => m.status().consecutiveFailures === 1);
    expect(m.ready()).toBe(false);
    expect(m.check()).toBe('no agent certificate yet; last attempt failed: certificate signing request x is still pending');
    s.fake.tick(60_000);
    await until(() => m.status().consecutiveFailures === 2);
    s.failing.on = false;
    s.fake.tick(60_000);
    await started;
    expect(m.ready()).toBe(true);

    const blocked = setup();
    blocked.failing.on = true;
    const m2 = blocked.make();
    const p = m2.start();
    await until(() => m2.status().consecutiveFailures === 1);
    await m2.close();
    await expect(p).rejects.toMatchObject({ code: 'ERR_CERT_CLOSED' });
    expect(blocked.fake.countTimers()).toBe(0);
  });
});
