/** Shared helpers of the certificate tests: temp dirs, dev-CA files, waiting for a source to change. */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import FakeTimers from '@sinonjs/fake-timers';
import type { CertificateBundle } from '../../../src/certs/bundle.js';
import type { CertClock } from '../../../src/certs/clock.js';
import type { CertificateSource } from '../../../src/certs/source.js';
import { DevCA, type LeafOptions, type PemPair } from '../../../src/certs/dev-ca.js';

/** A temp dir removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `certs-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a file atomically (temp + rename), as a careful writer would. */
export function replaceFile(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Issues a leaf and writes `<name>.crt` / `<name>.key` (and `ca.crt`) into `dir`; returns the paths and PEMs. */
export async function writeLeaf(
  ca: DevCA,
  dir: string,
  name: string,
  opts: LeafOptions,
): Promise<{ cert: string; key: string; ca: string; pair: PemPair }> {
  const pair = await ca.issue(opts);
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`), ca: path.join(dir, 'ca.crt') };
  replaceFile(files.cert, pair.cert);
  replaceFile(files.key, pair.key);
  replaceFile(files.ca, ca.certPem);
  return { ...files, pair };
}

/** Resolves with the next bundle the source announces (rejects after `ms`). */
export function nextChange(source: CertificateSource, ms = 10_000): Promise<CertificateBundle> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no certificate change within ${ms} ms`));
    }, ms);
    const stop = source.onChange((b) => {
      clearTimeout(timer);
      stop();
      resolve(b);
    });
  });
}

/** Resolves when `pred` holds for a bundle the source announces, or already holds now. */
export function changeWhere(source: CertificateSource, pred: (b: CertificateBundle) => boolean, ms = 20_000): Promise<CertificateBundle> {
  if (pred(source.current())) return Promise.resolve(source.current());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching certificate within ${ms} ms (current serial ${source.current().serialNumber})`));
    }, ms);
    const stop = source.onChange((b) => {
      if (!pred(b)) return;
      clearTimeout(timer);
      stop();
      resolve(b);
    });
  });
}

/** Serial number of the certificate a TLS server presents on a new handshake. */
export function presentedSerial(port: number, opts: { ca: string; cert?: string; key?: string; alpn?: string[] }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port,
        ca: opts.ca,
        ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
        servername: 'localhost',
        ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
      },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(serial);
      },
    );
    s.once('error', reject);
  });
}

/** A @sinonjs/fake-timers clock as a CertClock. */
export function fakeCertClock(start = Date.UTC(2030, 0, 1)): { fake: FakeTimers.Clock; clock: CertClock } {
  const fake = FakeTimers.createClock(start);
  return {
    fake,
    clock: {
      now: () => fake.now,
      setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
      clearTimeout: (h) => fake.clearTimeout(h as FakeTimers.TimerId),
    },
  };
}

/** Resolves once `pred` holds, checking every 5 ms (for state only observable by looking). */
export async function until(pred: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
