/**
 * PKCS#10 certificate requests: built with @peculiar/x509 from a subject
 * (CN, O) and SANs, and parsed into the facts the approver decides on.
 * Parsing is synchronous (the signature is checked with node:crypto over
 * the exact signed bytes), so API validation and policy can run inline.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { isIP } from 'node:net';
import { signedParts } from './der.js';
import { CertError } from './errors.js';
import type { SigningAlgorithm } from './key-pair.js';
import { pemBlocks, toPem } from './pem.js';
import { x509, type CryptoKeyPair } from './x509.js';

/** Subject of a request. */
export interface CsrSubject {
  commonName: string;
  /** Organisations (O=), e.g. the tunnel's agent group. */
  organizations?: string[];
}

/** Options of createCsrPem. */
export interface CreateCsrOptions {
  subject: CsrSubject;
  dnsNames?: string[];
  ipAddresses?: string[];
  keys: CryptoKeyPair;
  algorithm: SigningAlgorithm;
}

/** Escapes a value for an RFC 2253 string. */
function escapeDn(v: string): string {
  return v.replace(/([,+"\\<>;=#])/g, '\\$1');
}

/** Builds a signed PKCS#10 request (PEM `CERTIFICATE REQUEST`). */
export async function createCsrPem(opts: CreateCsrOptions): Promise<string> {
  const name = [
    `CN=${escapeDn(opts.subject.commonName)}`,
    ...(opts.subject.organizations ?? []).map((o) => `O=${escapeDn(o)}`),
  ].join(', ');
  const sans: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })),
    ...(opts.ipAddresses ?? []).map((v) => ({ type: 'ip' as const, value: v })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys: opts.keys,
    signingAlgorithm: opts.algorithm,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : [],
  });
  return toPem('CERTIFICATE REQUEST', Buffer.from(csr.rawData));
}

/** The public key of a request. */
export interface CsrKeyFacts {
  /** node:crypto's asymmetricKeyType: `ec`, `rsa`, `ed25519`, ... */
  type: string;
  /** EC curve as WebCrypto names it (`P-256`, `P-384`, `P-521`), or the OpenSSL name of others. */
  curve?: string;
  /** RSA modulus length. */
  bits?: number;
}

/** What a request asks for. */
export interface ParsedCsr {
  /** Subject as an RFC 2253 string. */
  subject: string;
  commonNames: string[];
  organizations: string[];
  /** Subject attributes other than CN and O (e.g. `OU`, `2.5.4.5`). */
  otherSubjectFields: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
  uris: string[];
  /** SAN types besides DNS, IP, email and URI. */
  otherSans: string[];
  key: CsrKeyFacts;
  /** The request is signed by the key it carries (proof of possession). */
  signatureValid: boolean;
  /** The DER of the request. */
  der: Buffer;
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const HASHES: Record<string, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** Decodes the single `CERTIFICATE REQUEST` block of `pem`; throws CertError ERR_CERT_INVALID. */
export function csrDer(pem: string): Buffer {
  const blocks = pemBlocks(pem, 'certificate request');
  if (blocks.length !== 1 || blocks[0]!.type !== 'CERTIFICATE REQUEST') {
    throw new CertError('ERR_CERT_INVALID', 'PEM block type must be CERTIFICATE REQUEST');
  }
  return blocks[0]!.der;
}

/** Parses a PEM request; throws CertError ERR_CERT_INVALID when it is not a PKCS#10 request. */
export function parseCsrPem(pem: string): ParsedCsr {
  return parseCsrDer(csrDer(pem));
}

/** Parses a DER request; throws CertError ERR_CERT_INVALID when it is not a PKCS#10 request. */
export function parseCsrDer(der: Buffer): ParsedCsr {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    void csr.subject;
  } catch (err) {
    throw new CertError('ERR_CERT_INVALID', `not a PKCS#10 certificate request (${(err as Error).message})`, { cause: err });
  }
  const out: ParsedCsr = {
    subject: csr.subject,
    commonNames: [],
    organizations: [],
    otherSubjectFields: [],
    dnsNames: [],
    ipAddresses: [],
    emails: [],
    uris: [],
    otherSans: [],
    key: { type: 'unknown' },
    signatureValid: false,
    der,
  };
  for (const rdn of csr.subjectName.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      if (type === 'CN') out.commonNames.push(...values);
      else if (type === 'O') out.organizations.push(...values);
      else out.otherSubjectFields.push(type);
    }
  }
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  for (const n of san?.names.toJSON() ?? []) {
    if (n.type === 'dns') out.dnsNames.push(n.value);
    else if (n.type === 'ip') out.ipAddresses.push(n.value);
    else if (n.type === 'email') out.emails.push(n.value);
    else if (n.type === 'url') out.uris.push(n.value);
    else out.otherSans.push(n.type);
  }
  try {
    const pub = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    const d = pub.asymmetricKeyDetails ?? {};
    out.key = { type: pub.asymmetricKeyType ?? 'unknown' };
    if (d.namedCurve) out.key.curve = CURVES[d.namedCurve] ?? d.namedCurve;
    if (d.modulusLength) out.key.bits = d.modulusLength;
    out.signatureValid = checkSignature(der, csr, pub);
  } catch {
    out.signatureValid = false;
  }
  return out;
}

function checkSignature(der: Buffer, csr: x509.Pkcs10CertificateRequest, pub: ReturnType<typeof createPublicKey>): boolean {
  const alg = csr.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  const hash = HASHES[alg.hash?.name ?? ''];
  if (!hash || (alg.name !== 'ECDSA' && alg.name !== 'RSASSA-PKCS1-v1_5')) return false;
  const { tbs, signature } = signedParts(der);
  return verifySignature(hash, tbs, alg.name === 'ECDSA' ? { key: pub, dsaEncoding: 'der' } : pub, signature);
}

/** True when `v` is an IP address literal. */
export function isIpAddress(v: string): boolean {
  return isIP(v) !== 0;
}
