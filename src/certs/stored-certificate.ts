/**
 * A look at what a CSR manager will find in its cert dir before it starts:
 * whether the stored certificate will be reused (valid for long enough),
 * and whether it still fits (the expected subject, signed by a CA of the
 * current bundle). One that no longer fits (the cluster was renamed, the CA
 * replaced) is removed, so that the manager requests a new one instead of
 * reusing it.
 */
import { X509Certificate } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';
import { bundleCertificates } from './ca-secret.js';
import { CertStore } from './cert-store.js';
import { reusable } from './renewal.js';

/** What the cert dir holds for one identity. */
export type StoredCertificate = { state: 'usable'; serialNumber: string } | { state: 'absent' | 'unusable'; reason: string };

/** Options of checkStoredCertificate. */
export interface StoredCheckOptions {
  certDir: string;
  /** File base name (the profile's `name`). */
  name: string;
  /** The CA bundle the certificate must chain to directly; '' = not checked. */
  caPem: string;
  /** The subject CN it must carry; undefined = not checked. */
  commonName?: string;
  logger: Logger;
  now?: number;
}

/** Checks the stored pair; removes a certificate that no longer fits (see the file comment). */
export async function checkStoredCertificate(o: StoredCheckOptions): Promise<StoredCertificate> {
  const store = new CertStore(o.certDir, o.name);
  let loaded;
  try {
    loaded = await store.load(o.caPem);
  } catch (err) {
    return { state: 'unusable', reason: (err as Error).message };
  }
  if (loaded.state === 'absent') return { state: 'absent', reason: `no certificate in ${store.certFile}` };
  if (loaded.state === 'invalid') return { state: 'unusable', reason: loaded.reason };
  const b = loaded.bundle;
  const leaf = new X509Certificate(b.certPem);
  const cn = /^CN=(.*)$/m.exec(leaf.subject)?.[1];
  let misfit: string | undefined;
  if (o.commonName !== undefined && cn !== o.commonName) misfit = `its subject CN is ${cn ?? '(none)'}, not ${o.commonName}`;
  else if (o.caPem.trim() !== '' && !bundleCertificates(o.caPem).some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
    misfit = 'it is not signed by a CA of the current CA bundle';
  }
  if (misfit) {
    o.logger.warn('the stored certificate no longer fits; removing it so that a new one is requested', { file: store.certFile, serial: b.serialNumber, reason: misfit });
    await unlink(store.certFile).catch(() => undefined);
    return { state: 'unusable', reason: misfit };
  }
  if (!reusable(b, o.now ?? Date.now())) return { state: 'unusable', reason: `certificate ${b.serialNumber} expires at ${b.notAfter.toISOString()}` };
  return { state: 'usable', serialNumber: b.serialNumber };
}
