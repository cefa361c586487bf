/**
 * Signs a leaf certificate for an approved request with the tunnel CA: the
 * request's subject, public key and (policy-checked) SANs; extended key
 * usages from the CSR's usages; CA:FALSE; notBefore backdated for clock
 * skew; notAfter never beyond the CA's own.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { ParsedCsr } from './csr-request.js';
import { CertError } from './errors.js';
import { importSigningKey, type SigningAlgorithm } from './key-pair.js';
import { parseCertificates } from './pem.js';
import { x509, type CryptoKey } from './x509.js';

/** A CA ready to sign. */
export interface SigningCa {
  certPem: string;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
  algorithm: SigningAlgorithm;
  notAfter: Date;
}

/** Imports a CA key pair for signing; throws CertError ERR_CERT_INVALID. */
export async function loadSigningCa(pair: { certPem: string; keyPem: string }, what: string): Promise<SigningCa> {
  parseCertificates(pair.certPem, what);
  const cert = new x509.X509Certificate(pair.certPem);
  const { privateKey, algorithm } = await importSigningKey(pair.keyPem, what);
  return { certPem: pair.certPem, cert, privateKey, algorithm, notAfter: cert.notAfter };
}

/** Options of issueLeaf. */
export interface IssueLeafOptions {
  ca: SigningCa;
  request: ParsedCsr;
  /** Kubernetes usages of the CSR (`client auth`, `server auth`, `digital signature`, `key encipherment`). */
  usages: string[];
  /** Signing time (ms since the epoch). */
  now: number;
  lifetimeMs: number;
  backdateMs: number;
}

/** Issues the certificate (PEM). */
export async function issueLeaf(o: IssueLeafOptions): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(o.request.der);
  } catch (err) {
    throw new CertError('ERR_CERT_INVALID', `cannot sign: not a PKCS#10 request (${(err as Error).message})`, { cause: err });
  }
  const eku: string[] = [];
  if (o.usages.includes('server auth')) eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (o.usages.includes('client auth')) eku.push(x509.ExtendedKeyUsage.clientAuth);
  let ku = x509.KeyUsageFlags.digitalSignature;
  if (o.request.key.type === 'rsa' && o.usages.includes('key encipherment')) ku |= x509.KeyUsageFlags.keyEncipherment;
  const sans: x509.JsonGeneralName[] = [
    ...o.request.dnsNames.map((v) => ({ type: 'dns' as const, value: v })),
    ...o.request.ipAddresses.map((v) => ({ type: 'ip' as const, value: v })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(ku, true),
    await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(o.ca.cert, false),
  ];
  if (eku.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const notAfter = Math.min(o.now + o.lifetimeMs, o.ca.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: csr.subjectName,
    issuer: o.ca.cert.subjectName,
    notBefore: new Date(o.now - o.backdateMs),
    notAfter: new Date(notAfter),
    signingAlgorithm: o.ca.algorithm,
    publicKey: csr.publicKey,
    signingKey: o.ca.privateKey,
    extensions,
  });
  const pem = cert.toString('pem') + '\n';
  // Sanity: node must read what we wrote, and the CA must verify it.
  const check = new X509Certificate(pem);
  if (!check.verify(new X509Certificate(o.ca.certPem).publicKey)) {
    throw new CertError('ERR_CERT_INVALID', 'the issued certificate does not verify against the CA');
  }
  return pem;
}
