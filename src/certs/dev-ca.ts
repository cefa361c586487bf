/**
 * A development CA: a self-signed ECDSA P-256 CA and leaf certificates it
 * signs, as PEM. Used by the demo and the tests; never for production (the
 * production CA lives in a Secret of the meta cluster, see certs/ signer).
 */
import { webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
x509.cryptoProvider.set(webcrypto as any);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate and its private key, as PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/** What DevCA.issue puts in a leaf certificate. */
export interface LeafOptions {
  commonName: string;
  organization?: string[];
  /** DNS names and IP addresses for the SAN extension. */
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client' | 'both';
  /** Validity; default 1 day back to 1 year ahead. */
  notBefore?: Date;
  notAfter?: Date;
}

/** A self-signed development CA that issues leaves with fresh keys. */
export class DevCA {
  private constructor(
    readonly cert: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    readonly certPem: string,
    readonly keyPem: string,
  ) {}

  /** A new CA (ECDSA P-256, valid from a day ago for ten years). */
  static async create(commonName = 'tunnel dev CA'): Promise<DevCA> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${commonName}`,
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 10 * 365 * 86_400_000),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new DevCA(cert, keys, cert.toString('pem') + '\n', await keyToPem(keys.privateKey));
  }

  /** Issues a leaf certificate with a fresh key. */
  async issue(opts: LeafOptions): Promise<PemPair> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const eku =
      opts.usage === 'server'
        ? [x509.ExtendedKeyUsage.serverAuth]
        : opts.usage === 'client'
          ? [x509.ExtendedKeyUsage.clientAuth]
          : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
    const san: x509.JsonGeneralName[] = [
      ...(opts.dnsNames ?? []).map((v) => ({ type: 'dns' as const, value: v })),
      ...(opts.ipAddresses ?? []).map((v) => ({ type: 'ip' as const, value: v })),
    ];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(eku, false),
      await x509.AuthorityKeyIdentifierExtension.create(this.cert, false),
    ];
    if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));
    const subject = [`CN=${escapeDn(opts.commonName)}`, ...(opts.organization ?? []).map((o) => `O=${escapeDn(o)}`)].join(', ');
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: this.cert.subject,
      notBefore: opts.notBefore ?? new Date(now - 86_400_000),
      notAfter: opts.notAfter ?? new Date(now + 365 * 86_400_000),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions,
    });
    return { cert: cert.toString('pem') + '\n', key: await keyToPem(keys.privateKey) };
  }
}

/** File paths of a dev PKI written by writeDevPki. */
export interface DevPkiFiles {
  dir: string;
  caCert: string;
  caKey: string;
  /** Frontend server cert (server-port) and agent-port cert: SANs localhost, 127.0.0.1, ::1. */
  serverCert: string;
  serverKey: string;
  /** Frontend client cert (what kube-apiserver or a platform client presents). */
  clientCert: string;
  clientKey: string;
  /** Agent client cert, CN = agent id. */
  agentCert: string;
  agentKey: string;
}

/**
 * Writes a complete dev PKI into `dir`: CA, server (localhost), frontend
 * client and agent client certificates. Keys are written with mode 0600.
 */
export async function writeDevPki(dir: string, opts: { agentID?: string; ca?: DevCA } = {}): Promise<DevPkiFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = opts.ca ?? (await DevCA.create());
  const server = await ca.issue({
    commonName: 'tunnel-server',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    usage: 'server',
  });
  const client = await ca.issue({ commonName: 'tunnel-frontend-client', usage: 'client' });
  const agent = await ca.issue({ commonName: opts.agentID ?? 'agent', usage: 'client' });
  const f = (n: string): string => path.join(dir, n);
  const files: DevPkiFiles = {
    dir,
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    agentCert: f('agent.crt'),
    agentKey: f('agent.key'),
  };
  writeFileSync(files.caCert, ca.certPem);
  writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
  writeFileSync(files.serverCert, server.cert);
  writeFileSync(files.serverKey, server.key, { mode: 0o600 });
  writeFileSync(files.clientCert, client.cert);
  writeFileSync(files.clientKey, client.key, { mode: 0o600 });
  writeFileSync(files.agentCert, agent.cert);
  writeFileSync(files.agentKey, agent.key, { mode: 0o600 });
  return files;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString('hex');
}

function escapeDn(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1');
}
