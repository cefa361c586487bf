/**
 * CertificateBundle: a certificate, its private key and the CA bundle that
 * verifies peers, checked together (the key must match the certificate),
 * with the facts rotation needs (validity, serial).
 */
import { CertError } from './errors.js';
import { keyMatchesCertificate, parseCertificates, parsePrivateKey } from './pem.js';

/** What a certificate source hands out. */
export interface CertificateBundle {
  /** The leaf certificate, optionally followed by intermediates (PEM). */
  readonly certPem: string;
  /** Its private key (PEM). */
  readonly keyPem: string;
  /** CA certificates that verify peers (PEM); '' when none was configured (system roots apply). */
  readonly caPem: string;
  /** Validity of the leaf. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Serial number of the leaf, upper-case hex as Node prints it. */
  readonly serialNumber: string;
  /** Subject of the leaf, e.g. `CN=tunnel-agent:c1\nO=...` as Node prints it. */
  readonly subject: string;
}

/** Raw PEM inputs of a bundle. */
export interface BundleInput {
  certPem: string;
  keyPem: string;
  caPem?: string;
}

/**
 * Checks and describes a bundle: the certificate and CA parse, the key
 * parses and matches the certificate. Throws CertError ERR_CERT_INVALID
 * naming `what` (e.g. the file names) and the problem.
 */
export function makeBundle(input: BundleInput, what: string): CertificateBundle {
  const [leaf] = parseCertificates(input.certPem, `${what}: certificate`);
  const key = parsePrivateKey(input.keyPem, `${what}: key`);
  const caPem = input.caPem ?? '';
  if (caPem.trim() !== '') parseCertificates(caPem, `${what}: CA bundle`);
  if (!keyMatchesCertificate(leaf!, key)) {
    throw new CertError('ERR_CERT_INVALID', `${what}: the private key does not match the certificate (serial ${leaf!.serialNumber})`);
  }
  return {
    certPem: input.certPem,
    keyPem: input.keyPem,
    caPem,
    notBefore: new Date(leaf!.validFrom),
    notAfter: new Date(leaf!.validTo),
    serialNumber: leaf!.serialNumber,
    subject: leaf!.subject,
  };
}

/** True when both bundles hold the same PEM text. */
export function sameBundle(a: CertificateBundle | undefined, b: CertificateBundle | undefined): boolean {
  return a !== undefined && b !== undefined && a.certPem === b.certPem && a.keyPem === b.keyPem && a.caPem === b.caPem;
}
