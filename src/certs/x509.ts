/**
 * @peculiar/x509 with Node's WebCrypto as its provider. Every module of the
 * certificate layer imports x509 from here so the setup happens once, before
 * first use (reflect-metadata must load before the library).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
x509.cryptoProvider.set(webcrypto as any);

export { x509 };
/** WebCrypto of this process. */
export const subtle = webcrypto.subtle;
/** A WebCrypto key. */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto key pair. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
