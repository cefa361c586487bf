/**
 * The `csr` source: a started CsrManager as a CertificateSource, for the TLS
 * adapters (renewed certificates reach new handshakes without a restart).
 */
import type { CertificateBundle } from './bundle.js';
import type { CsrManager } from './csr-manager.js';
import { CertError } from './errors.js';
import type { CertificateListener, CertificateSource } from './source.js';

/** A certificate source backed by a CSR manager. */
export class CsrCertificateSource implements CertificateSource {
  /** `manager.start()` must have resolved (there is a certificate). */
  constructor(private readonly manager: CsrManager) {
    if (!manager.current()) throw new CertError('ERR_CERT_CONFIG', 'start the CSR manager before using it as a certificate source');
  }

  /** The certificate in use. */
  current(): CertificateBundle {
    return this.manager.current()!;
  }

  /** See CertificateSource.onChange. */
  onChange(listener: CertificateListener): () => void {
    return this.manager.onChange(listener);
  }

  /** Closes the manager (stops renewing). */
  close(): Promise<void> {
    return this.manager.close();
  }
}
