/** A set of change listeners; a listener that throws is logged and does not stop the others. */
import type { Logger } from '../observability/logger.js';
import type { CertificateBundle } from './bundle.js';
import type { CertificateListener } from './source.js';

/** The listeners of one source. */
export class ListenerSet {
  private readonly listeners = new Set<CertificateListener>();

  constructor(private readonly logger: Logger) {}

  /** Adds a listener; returns its remover. */
  add(listener: CertificateListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Calls every listener with `bundle`. */
  emit(bundle: CertificateBundle): void {
    for (const l of [...this.listeners]) {
      try {
        l(bundle);
      } catch (err) {
        this.logger.error('certificate change listener failed', { err: (err as Error).message, serial: bundle.serialNumber });
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
