/**
 * A source whose bundle changes only when told to: for the dev CA, for
 * tests, and for callers that manage certificates themselves.
 */
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import { makeBundle, sameBundle, type BundleInput, type CertificateBundle } from './bundle.js';
import { ListenerSet } from './listeners.js';
import type { CertificateListener, CertificateSource } from './source.js';

/** A source with a settable bundle. */
export class StaticCertificateSource implements CertificateSource {
  private bundle: CertificateBundle;
  private readonly listeners: ListenerSet;

  /** Checks `input` (key matches certificate); throws CertError ERR_CERT_INVALID otherwise. */
  constructor(input: BundleInput, logger: Logger = silentLogger()) {
    this.bundle = makeBundle(input, 'static certificate');
    this.listeners = new ListenerSet(logger);
  }

  /** The bundle in use now. */
  current(): CertificateBundle {
    return this.bundle;
  }

  /** Replaces the bundle (checked first) and tells the listeners when it differs. */
  set(input: BundleInput): CertificateBundle {
    const next = makeBundle(input, 'static certificate');
    if (!sameBundle(next, this.bundle)) {
      this.bundle = next;
      this.listeners.emit(next);
    }
    return this.bundle;
  }

  /** See CertificateSource.onChange. */
  onChange(listener: CertificateListener): () => void {
    return this.listeners.add(listener);
  }

  /** Drops the listeners. */
  async close(): Promise<void> {
    this.listeners.clear();
  }
}
