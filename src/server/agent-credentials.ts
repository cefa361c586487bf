/**
 * TLS credentials of the agent listener: they follow a CertificateSource
 * (new handshakes get the source's current certificate and client CA;
 * established HTTP/2 connections keep theirs) and honour --tls-min-version
 * and --cipher-suites, as upstream applies both flags to the agent port too.
 *
 * Why not certs' serverCredentialsFromSource: grpc-js's certificate-provider
 * credentials hand `http2SecureServer.setSecureContext()` only ca/cert/key,
 * and setSecureContext replaces the whole context, so the TLS version and
 * cipher settings would be lost at the first update. This subclass gives
 * grpc-js the full context options on every update instead (grpc-js 1.14
 * merges the constructor options and the secure context options into
 * `http2.createSecureServer()`, and passes each update to setSecureContext).
 */
import * as grpc from '@grpc/grpc-js';
import type { SecureServerOptions } from 'node:http2';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateBundle, CertificateSource } from '../certs/index.js';
import type { ServerConfig } from './config.js';

/**
 * Client certificates on the agent port: `require` (files mode with
 * --cluster-ca-cert: the handshake fails without one), `request` (csr mode:
 * a certificate of the tunnel CA, or none and a bootstrap token instead),
 * `none` (token authentication or no authentication).
 */
export type ClientCertMode = 'require' | 'request' | 'none';

/** What the agent listener's TLS is built from besides the certificate. */
export interface AgentTlsSettings {
  clientCerts: ClientCertMode;
  /** Lowest TLS version accepted (--tls-min-version, Node's name). */
  minVersion: ServerConfig['tlsMinVersion'];
  /** OpenSSL names of the TLS 1.2 suites (--cipher-suites); empty = Node's defaults. */
  ciphers: readonly string[];
}

/** ServerCredentials whose secure context follows a source. */
class SourceAgentCredentials extends grpc.ServerCredentials {
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly source: CertificateSource,
    private readonly settings: AgentTlsSettings,
  ) {
    const asks = settings.clientCerts !== 'none';
    const server: SecureServerOptions = { requestCert: asks, rejectUnauthorized: settings.clientCerts === 'require' };
    super(server, contextOptions(source.current(), settings));
  }

  override _addWatcher(watcher: Parameters<grpc.ServerCredentials['_addWatcher']>[0]): void {
    if (this.getWatcherCount() === 0) {
      this.unsubscribe = this.source.onChange((b) => this.updateSecureContextOptions(contextOptions(b, this.settings)));
    }
    super._addWatcher(watcher);
  }

  override _removeWatcher(watcher: Parameters<grpc.ServerCredentials['_removeWatcher']>[0]): void {
    super._removeWatcher(watcher);
    if (this.getWatcherCount() === 0) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
    }
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** The full secure-context options of one bundle (everything setSecureContext needs). */
function contextOptions(b: CertificateBundle, s: AgentTlsSettings): SecureContextOptions {
  return {
    cert: b.certPem,
    key: b.keyPem,
    minVersion: s.minVersion,
    ...(s.clientCerts !== 'none' && b.caPem.trim() !== '' ? { ca: b.caPem } : {}),
    ...(s.ciphers.length > 0 ? { ciphers: s.ciphers.join(':') } : {}),
  };
}

/**
 * Credentials for the agent listener (always TLS). With clientCerts other
 * than `none` the source's CA bundle verifies the agents' certificates.
 */
export function agentServerCredentials(source: CertificateSource, settings: AgentTlsSettings): grpc.ServerCredentials {
  return new SourceAgentCredentials(source, settings);
}
