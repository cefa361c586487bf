/**
 * Hot swap for plain `tls.Server`s (the HTTP CONNECT / sniffing frontend,
 * health endpoints over TLS): builds the secure-context options from a
 * source and calls `server.setSecureContext()` whenever it changes. New
 * handshakes get the new certificate; established connections keep
 * working with the old one.
 */
import type tls from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { CertificateBundle } from './bundle.js';
import type { CertificateSource } from './source.js';

/** Options of tlsContextOptions and followSourceOnTlsServer. */
export interface TlsFollowOptions {
  /**
   * Options merged under the certificate (minVersion, ciphers, ...).
   * setSecureContext replaces the whole context, so everything the server was
   * created with besides cert/key/ca must be repeated here.
   */
  base?: tls.SecureContextOptions;
  /**
   * Take `ca` from the source (true, default), or keep `base.ca` (e.g. the
   * frontend's client CA comes from another file than its certificate).
   */
  useSourceCa?: boolean;
}

/** Secure-context options for `bundle` (pass them to tls.createServer or setSecureContext). */
export function tlsContextOptions(bundle: CertificateBundle, opts: TlsFollowOptions = {}): tls.SecureContextOptions {
  const out: tls.SecureContextOptions = { ...(opts.base ?? {}), cert: bundle.certPem, key: bundle.keyPem };
  if ((opts.useSourceCa ?? true) && bundle.caPem.trim() !== '') out.ca = bundle.caPem;
  return out;
}

/**
 * Keeps `server`'s certificate in step with `source`: sets it now and on
 * every change. Returns the function that stops following.
 */
export function followSourceOnTlsServer(
  server: tls.Server,
  source: CertificateSource,
  logger: Logger,
  opts: TlsFollowOptions = {},
): () => void {
  const apply = (b: CertificateBundle): void => {
    try {
      server.setSecureContext(tlsContextOptions(b, opts));
      logger.debug('TLS server certificate swapped', { serial: b.serialNumber });
    } catch (err) {
      logger.error('cannot use the new certificate on the TLS server; keeping the old one', {
        serial: b.serialNumber,
        err: (err as Error).message,
      });
    }
  };
  apply(source.current());
  return source.onChange(apply);
}
