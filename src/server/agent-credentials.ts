/**
 * TLS credentials of the agent listener that honour --tls-min-version and
 * --cipher-suites, as upstream applies both flags to the agent port too.
 *
 * grpc-js's ServerCredentials.createSsl() takes no TLS version or cipher
 * settings (it uses GRPC_SSL_CIPHER_SUITES from the environment), so this
 * subclass hands Node's TLS server the options itself: grpc-js 1.14 merges
 * the constructor options and the secure context options of a credentials
 * object into `http2.createSecureServer()`.
 */
import * as grpc from '@grpc/grpc-js';
import type { SecureServerOptions } from 'node:http2';
import type { SecureContextOptions } from 'node:tls';
import type { ServerConfig } from './config.js';

/** What the agent listener's TLS is built from. */
export interface AgentTlsSettings {
  /** PEM certificate chain of the listener (--cluster-cert). */
  cert: Buffer;
  /** PEM private key (--cluster-key). */
  key: Buffer;
  /** CA bundle agents' client certificates must chain to (--cluster-ca-cert); null = no client certificates. */
  ca: Buffer | null;
  /** Lowest TLS version accepted (--tls-min-version, Node's name). */
  minVersion: ServerConfig['tlsMinVersion'];
  /** OpenSSL names of the TLS 1.2 suites (--cipher-suites); empty = Node's defaults. */
  ciphers: readonly string[];
}

/** ServerCredentials carrying the TLS settings of AgentTlsSettings. */
class AgentServerCredentials extends grpc.ServerCredentials {
  constructor(private readonly settings: AgentTlsSettings) {
    const requireClientCert = settings.ca !== null;
    const server: SecureServerOptions = { requestCert: requireClientCert, rejectUnauthorized: requireClientCert };
    const context: SecureContextOptions = {
      cert: settings.cert,
      key: settings.key,
      minVersion: settings.minVersion,
      ...(settings.ca ? { ca: settings.ca } : {}),
      ...(settings.ciphers.length > 0 ? { ciphers: settings.ciphers.join(':') } : {}),
    };
    super(server, context);
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other instanceof AgentServerCredentials && other.settings === this.settings;
  }
}

/** Credentials for the agent listener (always TLS; client certificates required when `ca` is set). */
export function agentServerCredentials(settings: AgentTlsSettings): grpc.ServerCredentials {
  return new AgentServerCredentials(settings);
}
