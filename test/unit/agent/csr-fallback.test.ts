/**
 * certificateFallback (csr mode) with a fake CSR manager and a fake clock:
 * a valid certificate's credentials are used as they are; an expired or
 * not-yet-valid one gives way to the bootstrap credentials with one
 * warning; a valid certificate ends the fallback with one upgrade call,
 * while a change that leaves the certificate invalid (a CA bundle reload)
 * does not.
 */
import { describe, expect, it } from '@jest/globals';
import { certificateFallback, type CertificateHolder } from '../../../src/agent/csr-auth.js';
import type { ConnectionCredentials } from '../../../src/agent/connection-auth.js';
import type { CertificateBundle } from '../../../src/certs/bundle.js';
import type { Logger } from '../../../src/observability/logger.js';
import { fakeClock } from './fake-clock.js';

const T0 = 1_700_000_000_000;

function bundle(serial: string, notBefore: number, notAfter: number): CertificateBundle {
  return { certPem: '', keyPem: '', caPem: '', serialNumber: serial, subject: 'CN=tunnel-agent:c1', notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

class FakeManager implements CertificateHolder {
  private readonly listeners = new Set<(b: CertificateBundle) => void>();
  constructor(public bundle: CertificateBundle | undefined) {}
  current(): CertificateBundle | undefined {
    return this.bundle;
  }
  onChange(l: (b: CertificateBundle) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(b: CertificateBundle): void {
    this.bundle = b;
    for (const l of [...this.listeners]) l(b);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
}

interface Logged {
  level: string;
  message: string;
  meta?: Record<string, unknown>;
}

function setup(cert: CertificateBundle | undefined) {
  const { fake, clock } = fakeClock(T0);
  const mgr = new FakeManager(cert);
  const logged: Logged[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void logged.push({ level, message, ...(meta ? { meta } : {}) });
  const logger = { warn: at('warn'), info: at('info'), debug: at('debug'), error: at('error') } as unknown as Logger;
  const certCreds: ConnectionCredentials = { tokenPath: '/var/run/sa-token', bootstrap: false, clientCertificate: () => mgr.current() };
  const bootCreds: ConnectionCredentials = { tokenPath: '/etc/bootstrap/token', bootstrap: true };
  let upgrades = 0;
  const fb = certificateFallback({
    mgr,
    bootstrap: () => bootCreds,
    tokenFile: '/etc/bootstrap/token',
    clock,
    logger,
    onRecovered: () => void (upgrades += 1),
  });
  const warns = (): Logged[] => logged.filter((l) => l.level === 'warn');
  return { fake, mgr, logged, warns, certCreds, bootCreds, fb, upgrades: () => upgrades };
}

describe('certificateFallback', () => {
  it('a valid certificate: its credentials, no warning, no upgrade', () => {
    const s = setup(bundle('A1', T0 - 1_000, T0 + 60_000));
    expect(s.fb.inForce(s.certCreds)).toBe(s.certCreds);
    expect(s.fb.inForce(s.certCreds)).toBe(s.certCreds);
    expect(s.warns()).toHaveLength(0);
    s.mgr.emit(bundle('A2', T0, T0 + 60_000));
    expect(s.upgrades()).toBe(0);
  });

  it('bootstrap credentials are passed through untouched', () => {
    const s = setup(undefined);
    expect(s.fb.inForce(s.bootCreds)).toBe(s.bootCreds);
    expect(s.warns()).toHaveLength(0);
  });

  it('an expired certificate: bootstrap credentials and one warning naming the expiry; a new certificate upgrades once', () => {
    const s = setup(bundle('A1', T0 - 60_000, T0 - 1));
    for (let i = 0; i < 3; i++) expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    expect(s.warns()).toHaveLength(1);
    expect(s.warns()[0]!.message).toBe(
      `the agent certificate expired at ${new Date(T0 - 1).toISOString()} and no renewal has succeeded; connecting with the bootstrap token until a new certificate is issued`,
    );
    expect(s.warns()[0]!.meta).toEqual({ serial: 'A1', tokenFile: '/etc/bootstrap/token' });
    expect(s.upgrades()).toBe(0);

    // A CA bundle reload hands out the same expired certificate: still the token, no upgrade.
    s.mgr.emit(bundle('A1', T0 - 60_000, T0 - 1));
    expect(s.upgrades()).toBe(0);
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);

    s.mgr.emit(bundle('B1', T0 - 1_000, T0 + 60_000));
    expect(s.upgrades()).toBe(1);
    expect(s.fb.inForce(s.certCreds)).toBe(s.certCreds);
    // Later renewals are ordinary rotations.
    s.mgr.emit(bundle('B2', T0, T0 + 60_000));
    expect(s.upgrades()).toBe(1);
    expect(s.warns()).toHaveLength(1);

    // A second episode warns again.
    s.fake.tick(61_000);
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    expect(s.warns()).toHaveLength(2);
  });

  it('a certificate that expires while in use: the next connection falls back', () => {
    const s = setup(bundle('A1', T0 - 1_000, T0 + 5_000));
    expect(s.fb.inForce(s.certCreds)).toBe(s.certCreds);
    s.fake.tick(5_000);
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    expect(s.warns()).toHaveLength(1);
  });

  it('a certificate not valid yet by the local clock: the token until its notBefore, then one upgrade', () => {
    const s = setup(bundle('A1', T0 + 10_000, T0 + 60_000));
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    expect(s.warns()).toHaveLength(1);
    expect(s.warns()[0]!.message).toContain(`is not valid until ${new Date(T0 + 10_000).toISOString()} by this machine's clock`);
    s.fake.tick(9_999);
    expect(s.upgrades()).toBe(0);
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    s.fake.tick(1);
    expect(s.upgrades()).toBe(1);
    expect(s.fb.inForce(s.certCreds)).toBe(s.certCreds);
    expect(s.warns()).toHaveLength(1);
  });

  it('stop(): no more upgrades, the manager listener removed, no timer left', () => {
    const s = setup(bundle('A1', T0 + 10_000, T0 + 60_000));
    expect(s.fb.inForce(s.certCreds)).toBe(s.bootCreds);
    expect(s.fake.countTimers()).toBe(1);
    s.fb.stop();
    expect(s.fake.countTimers()).toBe(0);
    expect(s.mgr.listenerCount).toBe(0);
    s.fake.tick(20_000);
    expect(s.upgrades()).toBe(0);
  });
});
