/**
 * grpc-js hot swap: a CertificateSource as a grpc-js CertificateProvider
 * (experimental API of grpc-js 1.14), and credentials built on it.
 *
 * How updates reach connections (grpc-js 1.14.7, read from its source):
 * - Server: CertificateProviderServerCredentials subscribes when a port is
 *   bound and calls `http2SecureServer.setSecureContext()` on each update,
 *   so new TLS handshakes use the new certificate; established HTTP/2
 *   connections keep theirs. The server binds with no context and drops
 *   connections until the first update arrives, and it registers its own
 *   watcher only after subscribing to the provider, so the provider must
 *   deliver the current bundle asynchronously (process.nextTick), as
 *   grpc-js's own FileWatcherCertificateProvider does.
 * - Channel: CertificateProviderChannelCredentials builds a fresh
 *   SecureContext from the latest update for every new connection
 *   (subchannel connect); live connections are untouched.
 * - `createCertificateProviderServerCredentials(a, b, require)` names its
 *   first parameter `caCertificateProvider` in the .d.ts, but passes it to
 *   the constructor's identity slot: the first argument is the identity
 *   provider, the second the CA provider (null = no client certificates).
 */
import * as grpc from '@grpc/grpc-js';
import tls from 'node:tls';
import type { CertificateBundle } from './bundle.js';
import { CertError } from './errors.js';
import type { CertificateSource } from './source.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/** The CA bundle of a bundle, or the system roots when it has none. */
function caOf(bundle: CertificateBundle): string {
  return bundle.caPem.trim() !== '' ? bundle.caPem : tls.rootCertificates.join('\n');
}

/** A grpc-js CertificateProvider that follows a CertificateSource (identity and CA). */
export class SourceCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private unsubscribe: (() => void) | undefined;
  private last: CertificateBundle | undefined;

  constructor(private readonly source: CertificateSource) {}

  /** See grpc-js CertificateProvider. */
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.subscribe();
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: Buffer.from(caOf(this.source.current())) });
    });
  }

  /** See grpc-js CertificateProvider. */
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.maybeUnsubscribe();
  }

  /** See grpc-js CertificateProvider. */
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.subscribe();
    process.nextTick(() => {
      if (!this.identityListeners.has(listener)) return;
      const b = this.source.current();
      listener({ certificate: Buffer.from(b.certPem), privateKey: Buffer.from(b.keyPem) });
    });
  }

  /** See grpc-js CertificateProvider. */
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.maybeUnsubscribe();
  }

  private subscribe(): void {
    if (this.unsubscribe) return;
    this.last = this.source.current();
    this.unsubscribe = this.source.onChange((b) => this.update(b));
  }

  private maybeUnsubscribe(): void {
    if (this.caListeners.size > 0 || this.identityListeners.size > 0 || !this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
  }

  private update(next: CertificateBundle): void {
    const prev = this.last;
    this.last = next;
    if (!prev || prev.certPem !== next.certPem || prev.keyPem !== next.keyPem) {
      const u = { certificate: Buffer.from(next.certPem), privateKey: Buffer.from(next.keyPem) };
      for (const l of [...this.identityListeners]) l(u);
    }
    if (!prev || prev.caPem !== next.caPem) {
      const u = { caCertificate: Buffer.from(caOf(next)) };
      for (const l of [...this.caListeners]) l(u);
    }
  }
}

/** Options of serverCredentialsFromSource. */
export interface SourceServerCredentialsOptions {
  /**
   * Ask for and verify client certificates against the source's CA bundle.
   * Default: true when the source has a CA bundle (what upstream does with
   * `--cluster-ca-cert`).
   */
  requireClientCert?: boolean;
}

/**
 * gRPC server credentials that follow `source`: each new TLS handshake uses
 * the source's current certificate (and CA bundle for client certificates).
 */
export function serverCredentialsFromSource(
  source: CertificateSource,
  opts: SourceServerCredentialsOptions = {},
): grpc.ServerCredentials {
  const hasCa = source.current().caPem.trim() !== '';
  const require = opts.requireClientCert ?? hasCa;
  if (require && !hasCa) {
    throw new CertError('ERR_CERT_CONFIG', 'client certificates are required but the certificate source has no CA bundle');
  }
  const provider = new SourceCertificateProvider(source);
  // First argument: identity; second: CA (see the file comment).
  return grpc.experimental.createCertificateProviderServerCredentials(provider, require ? provider : null, require);
}

/** Options of channelCredentialsFromSource. */
export interface SourceChannelCredentialsOptions {
  /** Present the source's certificate as a client certificate; default true. */
  clientCertificate?: boolean;
  /** Server identity checks (e.g. checkServerIdentity); default: grpc-js's. */
  verifyOptions?: grpc.VerifyOptions;
}

/**
 * gRPC channel credentials that follow `source`: each new connection trusts
 * the source's CA bundle (system roots when it has none) and presents its
 * current certificate.
 */
export function channelCredentialsFromSource(
  source: CertificateSource,
  opts: SourceChannelCredentialsOptions = {},
): grpc.ChannelCredentials {
  const provider = new SourceCertificateProvider(source);
  return grpc.experimental.createCertificateProviderChannelCredentials(
    provider,
    opts.clientCertificate === false ? null : provider,
    opts.verifyOptions,
  );
}
