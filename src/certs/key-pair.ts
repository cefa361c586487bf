/**
 * Key pairs: generated in this process with WebCrypto (ECDSA P-256 by
 * default), exported as PKCS#8 PEM, and imported back for signing (the CA
 * key). The signing algorithm always follows the key: ECDSA with SHA-256
 * (P-256) or SHA-384 (P-384), RSASSA-PKCS1-v1_5 with SHA-256.
 */
import { createPrivateKey } from 'node:crypto';
import { CertError } from './errors.js';
import { toPem } from './pem.js';
import { subtle, type CryptoKey, type CryptoKeyPair } from './x509.js';

/** Key types the tunnel generates. */
export type KeyAlgorithm = 'ECDSA-P256' | 'ECDSA-P384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096';

/** The default key type of new keys. */
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'ECDSA-P256';

/** A WebCrypto algorithm for generating, importing and signing. */
export type SigningAlgorithm =
  | { name: 'ECDSA'; namedCurve: 'P-256' | 'P-384'; hash: 'SHA-256' | 'SHA-384' }
  | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256'; modulusLength?: number; publicExponent?: Uint8Array };

/** A generated key pair with its PEM. */
export interface GeneratedKey {
  keys: CryptoKeyPair;
  /** PKCS#8 PEM of the private key. */
  keyPem: string;
  algorithm: SigningAlgorithm;
}

/** The WebCrypto parameters of a key type. */
export function signingAlgorithmOf(alg: KeyAlgorithm): SigningAlgorithm {
  switch (alg) {
    case 'ECDSA-P256':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    case 'ECDSA-P384':
      return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    case 'RSA-2048':
    case 'RSA-3072':
    case 'RSA-4096':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        hash: 'SHA-256',
        modulusLength: Number(alg.slice(4)),
        publicExponent: new Uint8Array([1, 0, 1]),
      };
    default:
      throw new CertError('ERR_CERT_CONFIG', `unknown key algorithm ${String(alg)}`);
  }
}

/** Generates an extractable key pair of type `alg`. */
export async function generateKey(alg: KeyAlgorithm = DEFAULT_KEY_ALGORITHM): Promise<GeneratedKey> {
  const algorithm = signingAlgorithmOf(alg);
  const keys = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { keys, keyPem: await privateKeyPem(keys.privateKey), algorithm };
}

/** PKCS#8 PEM of an extractable private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', Buffer.from(await subtle.exportKey('pkcs8', key)));
}

/**
 * Imports a PEM private key (PKCS#8, SEC1 or PKCS#1; ECDSA P-256/P-384 or
 * RSA) for signing. Throws CertError ERR_CERT_INVALID for anything else.
 */
export async function importSigningKey(keyPem: string, what: string): Promise<{ privateKey: CryptoKey; algorithm: SigningAlgorithm }> {
  let ko;
  try {
    ko = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertError('ERR_CERT_INVALID', `${what}: not a valid private key (${(err as Error).message})`, { cause: err });
  }
  const der = ko.export({ type: 'pkcs8', format: 'der' });
  let algorithm: SigningAlgorithm;
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') algorithm = signingAlgorithmOf('ECDSA-P256');
    else if (curve === 'secp384r1') algorithm = signingAlgorithmOf('ECDSA-P384');
    else throw new CertError('ERR_CERT_INVALID', `${what}: unsupported EC curve ${curve ?? 'unknown'}`);
  } else if (ko.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new CertError('ERR_CERT_INVALID', `${what}: unsupported key type ${ko.asymmetricKeyType ?? 'unknown'}`);
  }
  const privateKey = await subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { privateKey, algorithm };
}
