/**
 * The tunnel CA as stored in a Secret of the meta cluster, and the checks
 * that make a hand-edited Secret a clear error instead of a silent new CA.
 *
 * Data keys:
 * - `tls.crt` / `tls.key`: the CA that signs now;
 * - `ca-bundle.crt`: every CA certificate peers must trust (the signing CA,
 *   a staged next CA, retired CAs whose certificates may still be in use);
 * - `next.crt` / `next.key` (only during a rotation): a CA already in the
 *   bundle that will sign after promotion.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { SecretRecord } from '../kube/index.js';
import { CertError } from './errors.js';
import { generateKey } from './key-pair.js';
import { certificatesToPem, keyMatchesCertificate, parseCertificates, parsePrivateKey } from './pem.js';
import { x509 } from './x509.js';

/** Data key of the signing CA certificate. */
export const CA_CERT_KEY = 'tls.crt';
/** Data key of the signing CA key. */
export const CA_KEY_KEY = 'tls.key';
/** Data key of the trust bundle. */
export const CA_BUNDLE_KEY = 'ca-bundle.crt';
/** Data key of a staged CA certificate. */
export const NEXT_CERT_KEY = 'next.crt';
/** Data key of a staged CA key. */
export const NEXT_KEY_KEY = 'next.key';

/** A CA certificate and its key (PEM). */
export interface CaKeyPair {
  certPem: string;
  keyPem: string;
}

/** Everything the CA Secret holds. */
export interface CaMaterial {
  active: CaKeyPair;
  next?: CaKeyPair;
  /** Every trusted CA certificate (PEM), the active one included. */
  bundlePem: string;
}

/** The Secret data of `m`. */
export function encodeCaData(m: CaMaterial): Record<string, Buffer> {
  const data: Record<string, Buffer> = {
    [CA_CERT_KEY]: Buffer.from(m.active.certPem),
    [CA_KEY_KEY]: Buffer.from(m.active.keyPem),
    [CA_BUNDLE_KEY]: Buffer.from(m.bundlePem),
  };
  if (m.next) {
    data[NEXT_CERT_KEY] = Buffer.from(m.next.certPem);
    data[NEXT_KEY_KEY] = Buffer.from(m.next.keyPem);
  }
  return data;
}

function checkPair(pair: CaKeyPair, what: string, now: number): X509Certificate {
  const certs = parseCertificates(pair.certPem, what);
  if (certs.length !== 1) throw new CertError('ERR_CERT_INVALID', `${what}: expected one certificate, found ${certs.length}`);
  const cert = certs[0]!;
  if (!cert.ca) throw new CertError('ERR_CERT_INVALID', `${what}: certificate ${cert.serialNumber} is not a CA (basicConstraints CA:FALSE)`);
  if (new Date(cert.validTo).getTime() <= now) throw new CertError('ERR_CERT_INVALID', `${what}: CA certificate ${cert.serialNumber} expired at ${cert.validTo}`);
  const key = parsePrivateKey(pair.keyPem, `${what} key`);
  if (!keyMatchesCertificate(cert, key)) throw new CertError('ERR_CERT_INVALID', `${what}: the key does not match the certificate ${cert.serialNumber}`);
  return cert;
}

/**
 * Reads and checks the CA Secret: required keys present, the signing CA a
 * valid, unexpired CA whose key matches, a staged CA likewise, and the
 * bundle containing both. Throws CertError ERR_CA_SECRET_INVALID naming the
 * Secret and what is wrong; the Secret is never replaced automatically.
 */
export function decodeCaSecret(secret: SecretRecord, now: number): CaMaterial {
  const where = `CA Secret ${secret.namespace}/${secret.name}`;
  const text = (k: string): string | undefined => secret.data[k]?.toString('utf8');
  try {
    const missing = [CA_CERT_KEY, CA_KEY_KEY, CA_BUNDLE_KEY].filter((k) => !text(k));
    if (missing.length > 0) throw new CertError('ERR_CERT_INVALID', `data[${missing.join('], data[')}] missing`);
    const active = { certPem: text(CA_CERT_KEY)!, keyPem: text(CA_KEY_KEY)! };
    const activeCert = checkPair(active, `data[${CA_CERT_KEY}]`, now);
    const m: CaMaterial = { active, bundlePem: text(CA_BUNDLE_KEY)! };
    const bundle = parseCertificates(m.bundlePem, `data[${CA_BUNDLE_KEY}]`);
    const inBundle = (c: X509Certificate): boolean => bundle.some((b) => b.raw.equals(c.raw));
    if (!inBundle(activeCert)) throw new CertError('ERR_CERT_INVALID', `data[${CA_BUNDLE_KEY}] does not contain the signing CA ${activeCert.serialNumber}`);
    if (text(NEXT_CERT_KEY) || text(NEXT_KEY_KEY)) {
      const next = { certPem: text(NEXT_CERT_KEY) ?? '', keyPem: text(NEXT_KEY_KEY) ?? '' };
      const nextCert = checkPair(next, `data[${NEXT_CERT_KEY}]`, now);
      if (!inBundle(nextCert)) throw new CertError('ERR_CERT_INVALID', `data[${CA_BUNDLE_KEY}] does not contain the staged CA ${nextCert.serialNumber}`);
      m.next = next;
    }
    return m;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new CertError('ERR_CA_SECRET_INVALID', `${where} is not a usable CA (${detail}); fix or delete it by hand, it is never replaced automatically`, { cause: err });
  }
}

/** The certificates of a bundle, as PEM again (normalised). */
export function bundleCertificates(bundlePem: string): X509Certificate[] {
  return parseCertificates(bundlePem, 'CA bundle');
}

/** Joins certificates into a bundle without duplicates. */
export function joinBundle(certs: X509Certificate[]): string {
  const seen: X509Certificate[] = [];
  for (const c of certs) if (!seen.some((s) => s.raw.equals(c.raw))) seen.push(c);
  return certificatesToPem(seen);
}

/** A new self-signed CA (ECDSA P-256), valid from `now` minus a day for `lifetimeMs`. */
export async function createCaKeyPair(commonName: string, now: number, lifetimeMs: number): Promise<CaKeyPair> {
  const key = await generateKey('ECDSA-P256');
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${commonName.replace(/([,+"\\<>;=#])/g, '\\$1')}`,
    notBefore: new Date(now - 24 * 3_600_000),
    notAfter: new Date(now + lifetimeMs),
    signingAlgorithm: key.algorithm,
    keys: key.keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: key.keyPem };
}
