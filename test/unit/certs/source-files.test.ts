import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { openFileSource, type FileSourceOptions } from '../../../src/certs/source-files.js';
import { StaticCertificateSource } from '../../../src/certs/source-static.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { fakeCertClock, nextChange, replaceFile, tempDir, until, writeLeaf } from './helpers.js';
import { captureLogger } from './kube-setup.js';


const LEAF = { commonName: 'tunnel-server', usage: 'server' as const, dnsNames: ['localhost'] };

describe('the files certificate source', () => {
  let ca: DevCA;
  beforeAll(async () => {
    ca = await DevCA.create('files CA');
  });
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(files: Pick<FileSourceOptions, 'certFile' | 'keyFile' | 'caFile'>, extra: Partial<FileSourceOptions> = {}) {
    const src = await openFileSource({ logger: silentLogger(), debounceMs: 20, pollIntervalMs: 60_000, ...files, ...extra });
    cleanups.push(() => src.close());
    return src;
  }

  it('refuses to start on unreadable or mismatched files, naming them', async () => {
    const t = tempDir('bad-start');
    cleanups.push(t.remove);
    const f = await writeLeaf(ca, t.dir, 'server', LEAF);
    await expect(open({ certFile: path.join(t.dir, 'nope.crt'), keyFile: f.key })).rejects.toMatchObject({
      code: 'ERR_CERT_INVALID',
      message: expect.stringContaining(`cannot read ${path.join(t.dir, 'nope.crt')} (ENOENT)`),
    });
    const other = await ca.issue(LEAF);
    writeFileSync(f.key, other.key);
    await expect(open({ certFile: f.cert, keyFile: f.key })).rejects.toMatchObject({
      code: 'ERR_CERT_INVALID',
      message: expect.stringContaining('the private key does not match the certificate'),
    });
  });

  it('keeps the old pair through a half-written update and takes the new one once complete', async () => {
    const t = tempDir('half');
    cleanups.push(t.remove);
    const f = await writeLeaf(ca, t.dir, 'server', LEAF);
    const { logger, lines } = captureLogger();
    const src = await open({ certFile: f.cert, keyFile: f.key, caFile: f.ca }, { logger });
    const old = src.current().serialNumber;
    const next = await ca.issue(LEAF);

    // The new certificate lands first; its key is not there yet: a mismatched pair.
    replaceFile(f.cert, next.cert);
    expect(await src.reload()).toBe(false);
    expect(src.current().serialNumber).toBe(old);
    expect(src.lastError()).toMatch(/private key does not match the certificate/);
    expect(lines.some((l) => l.message === 'certificate files changed but cannot be used; keeping the current certificate')).toBe(true);

    // A key file cut off half-way is refused as well.
    writeFileSync(f.key, next.key.slice(0, 100));
    expect(await src.reload()).toBe(false);
    expect(src.lastError()).toMatch(/key: not well-formed PEM/);
    expect(src.current().serialNumber).toBe(old);

    const changed = nextChange(src);
    replaceFile(f.key, next.key);
    const b = await changed;
    expect(b.certPem).toBe(next.cert);
    expect(src.current().serialNumber).not.toBe(old);
    expect(src.lastError()).toBeUndefined();
  });

  it("follows a Kubernetes Secret volume's ..data symlink swap", async () => {
    const t = tempDir('secret-volume');
    cleanups.push(t.remove);
    // The layout kubelet writes: ..<timestamp>/ files, ..data -> ..<timestamp>, tls.crt -> ..data/tls.crt.
    const write = async (stamp: string): Promise<string> => {
      const d = path.join(t.dir, `..${stamp}`);
      mkdirSync(d);
      const p = await ca.issue(LEAF);
      writeFileSync(path.join(d, 'tls.crt'), p.cert);
      writeFileSync(path.join(d, 'tls.key'), p.key);
      writeFileSync(path.join(d, 'ca.crt'), ca.certPem);
      return p.cert;
    };
    const first = await write('2024_01_01_00_00_00.1');
    symlinkSync('..2024_01_01_00_00_00.1', path.join(t.dir, '..data'));
    for (const n of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(`..data/${n}`, path.join(t.dir, n));
    const src = await open({ certFile: path.join(t.dir, 'tls.crt'), keyFile: path.join(t.dir, 'tls.key'), caFile: path.join(t.dir, 'ca.crt') });
    expect(src.current().certPem).toBe(first);

    const second = await write('2024_01_01_00_05_00.2');
    const changed = nextChange(src);
    symlinkSync('..2024_01_01_00_05_00.2', path.join(t.dir, '..data_tmp'));
    renameSync(path.join(t.dir, '..data_tmp'), path.join(t.dir, '..data'));
    expect((await changed).certPem).toBe(second);
  });

  it('notices changes through the stat poll when fs.watch is off', async () => {
    const t = tempDir('poll');
    cleanups.push(t.remove);
    const f = await writeLeaf(ca, t.dir, 'server', LEAF);
    const { fake, clock } = fakeCertClock();
    const src = await open({ certFile: f.cert, keyFile: f.key }, { clock, fsWatch: false, pollIntervalMs: 1_000, debounceMs: 10 });
    const old = src.current().serialNumber;
    await writeLeaf(ca, t.dir, 'server', LEAF);
    const changed = nextChange(src);
    fake.tick(1_000); // poll: stat differs (the stat itself is real I/O) ...
    await until(() => fake.countTimers() === 2); // ... then the next poll and the debounce are armed
    fake.tick(10); // debounce
    expect((await changed).serialNumber).not.toBe(old);
    await src.close();
    expect(fake.countTimers()).toBe(0);
  });

  it('a static source refuses a mismatched pair and announces only real changes', async () => {
    const a = await ca.issue(LEAF);
    const b = await ca.issue(LEAF);
    const src = new StaticCertificateSource({ certPem: a.cert, keyPem: a.key, caPem: ca.certPem });
    const seen: string[] = [];
    src.onChange((x) => seen.push(x.serialNumber));
    expect(() => src.set({ certPem: a.cert, keyPem: b.key })).toThrow(expect.objectContaining({ code: 'ERR_CERT_INVALID' }));
    src.set({ certPem: a.cert, keyPem: a.key, caPem: ca.certPem });
    src.set({ certPem: b.cert, keyPem: b.key, caPem: ca.certPem });
    expect(seen).toEqual([src.current().serialNumber]);
    await src.close();
  });
});
