/**
 * CertificateSource: where a role gets its current certificate, key and
 * CA bundle, and hears about new ones. Implementations: files on disk
 * (upstream flags, re-read on change), a Kubernetes CSR manager, a static
 * bundle. The TLS adapters (grpc-provider.ts, tls-server.ts) turn a source
 * into credentials that follow it without a restart.
 */
import type { CertificateBundle } from './bundle.js';

export type { CertificateBundle } from './bundle.js';

/** Called with each new bundle (never with the same one twice in a row). */
export type CertificateListener = (bundle: CertificateBundle) => void;

/** A live certificate, key and CA bundle. */
export interface CertificateSource {
  /** The bundle in use now. */
  current(): CertificateBundle;
  /** Calls `listener` for every later bundle; returns the function that stops it. */
  onChange(listener: CertificateListener): () => void;
  /** Stops watching and renewing; listeners hear nothing more. */
  close(): Promise<void>;
}
