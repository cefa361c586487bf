/**
 * PEM parsing with Node's crypto: certificate chains and bundles, private
 * keys, and the key-matches-certificate check. Text that is not entirely
 * well-formed PEM (a truncated file, stray bytes) is refused, so a
 * half-written file is never taken for a good one.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { CertError } from './errors.js';

/** One PEM block. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`, `CERTIFICATE REQUEST`. */
  type: string;
  der: Buffer;
  /** The block as text, ending with a newline. */
  pem: string;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----\r?\n?/g;

/**
 * The PEM blocks of `text`; throws CertError ERR_CERT_INVALID when
 * anything besides blocks and whitespace is present (e.g. a block cut off
 * half-way). `what` names the input in the message.
 */
export function pemBlocks(text: string, what: string): PemBlock[] {
  const out: PemBlock[] = [];
  let rest = '';
  let last = 0;
  for (const m of text.matchAll(BLOCK_RE)) {
    rest += text.slice(last, m.index);
    last = m.index + m[0].length;
    const der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
    out.push({ type: m[1]!, der, pem: toPem(m[1]!, der) });
  }
  rest += text.slice(last);
  if (rest.trim() !== '') throw new CertError('ERR_CERT_INVALID', `${what}: not well-formed PEM (truncated or stray data)`);
  return out;
}

/** PEM text of one DER block, 64 columns, ending with a newline. */
export function toPem(type: string, der: Buffer | ArrayBuffer): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

/** Parses one or more CERTIFICATE blocks (a leaf and its chain, or a CA bundle); at least one is required. */
export function parseCertificates(text: string, what: string): X509Certificate[] {
  const blocks = pemBlocks(text, what);
  if (blocks.length === 0) throw new CertError('ERR_CERT_INVALID', `${what}: no CERTIFICATE block`);
  return blocks.map((b, i) => {
    if (b.type !== 'CERTIFICATE') throw new CertError('ERR_CERT_INVALID', `${what}: block ${i + 1} is a ${b.type}, not a CERTIFICATE`);
    try {
      return new X509Certificate(b.der);
    } catch (err) {
      throw new CertError('ERR_CERT_INVALID', `${what}: block ${i + 1} is not a valid certificate (${(err as Error).message})`, { cause: err });
    }
  });
}

/** Parses exactly one private key block (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`). */
export function parsePrivateKey(text: string, what: string): KeyObject {
  const blocks = pemBlocks(text, what);
  const keys = blocks.filter((b) => b.type.endsWith('PRIVATE KEY'));
  if (keys.length !== 1 || blocks.length !== 1) {
    throw new CertError('ERR_CERT_INVALID', `${what}: expected exactly one PRIVATE KEY block, found ${blocks.map((b) => b.type).join(', ') || 'none'}`);
  }
  try {
    return createPrivateKey(keys[0]!.pem);
  } catch (err) {
    throw new CertError('ERR_CERT_INVALID', `${what}: not a valid private key (${(err as Error).message})`, { cause: err });
  }
}

/** True when `key` is the private half of the certificate's public key. */
export function keyMatchesCertificate(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** PEM text of several certificates, in order. */
export function certificatesToPem(certs: X509Certificate[]): string {
  return certs.map((c) => toPem('CERTIFICATE', c.raw)).join('');
}
