/**
 * What the agent's server connections authenticate with, and a connector
 * that uses it.
 *
 * - files (default): --agent-cert/--agent-key/--ca-cert through a file
 *   source, so a rotated certificate on disk (cert-manager, a Secret update)
 *   is presented on the next new connection without a restart, while open
 *   connections keep theirs. Without a client certificate the CA file is
 *   read at every connect, as before. --service-account-token-path is sent
 *   as the bearer token.
 * - csr (csr-auth.ts): the bootstrap token first, then the certificate from
 *   the CSR API. When the certificate arrives, the connections made with the
 *   token are closed; the client set reconnects with the certificate.
 */
import type * as grpc from '@grpc/grpc-js';
import { CertError, channelCredentialsFromSource, openFileSource, type CertificateBundle } from '../certs/index.js';
import type { NamedCheck } from '../observability/http-endpoint.js';
import type { Logger } from '../observability/logger.js';
import type { AgentClock } from './clock.js';
import type { AgentConfig } from './config.js';
import { AgentConfigError, AgentError } from './errors.js';
import { grpcConnector, type GrpcConnectorOptions, type ServerConnection, type ServerConnector } from './server-connection.js';

/** What the next server connection is opened with. */
export interface ConnectionCredentials {
  /** TLS credentials; undefined = built from the config's files at each connect. */
  credentials?: grpc.ChannelCredentials;
  /** Token file sent as `authorization: Bearer` ('' = none). */
  tokenPath: string;
  /** True while csr mode waits for its certificate: such connections are closed once it is there. */
  bootstrap: boolean;
  /** The client certificate presented now, if any (to explain a refused handshake). */
  clientCertificate?: () => CertificateBundle | undefined;
}

/**
 * Why a server would refuse `cert` by its dates, judged with the local
 * clock, or undefined when its dates are fine. A server refuses an expired
 * or not-yet-valid client certificate at the TLS layer (in the handshake
 * with --cluster-ca-cert, right after it in csr mode), and tells the agent
 * little more than "Failed to connect": this names the cause.
 */
export function certificateDateProblem(cert: CertificateBundle, now: number): string | undefined {
  const why = certificateInvalidity(cert, now);
  if (why === undefined) return undefined;
  const who = `the agent certificate (${cert.subject.replace(/\n/g, ', ')}, serial ${cert.serialNumber})`;
  return now >= cert.notAfter.getTime()
    ? `${who} ${why}; the server refuses it: renew it (or, in csr mode, check why renewal failed in the certificate log lines)`
    : `${who} ${why}; the server refuses it if its clock agrees: check clock synchronisation`;
}

/** Why `cert` is not valid at `now` ("expired at …", "is not valid until … by this machine's clock"), or undefined. */
export function certificateInvalidity(cert: CertificateBundle, now: number): string | undefined {
  if (now >= cert.notAfter.getTime()) return `expired at ${cert.notAfter.toISOString()}`;
  if (now < cert.notBefore.getTime()) return `is not valid until ${cert.notBefore.toISOString()} by this machine's clock`;
  return undefined;
}

/** Where the agent's connection credentials come from. */
export interface ConnectionAuth {
  current(): ConnectionCredentials;
  /** Calls `listener` when bootstrap credentials give way to a certificate; returns the remover. */
  onUpgrade(listener: () => void): () => void;
  /** Readiness checks (e.g. the CSR manager's). */
  readonly checks: NamedCheck[];
  /** Stops watching files and renewing. */
  close(): Promise<void>;
}

/** The files of the upstream flags (see the file comment). */
export async function openFileAuth(config: AgentConfig, logger: Logger): Promise<ConnectionAuth> {
  const fixed = { tokenPath: config.serviceAccountTokenPath, bootstrap: false };
  if (!config.agentCert || !config.agentKey) {
    return { current: () => fixed, onUpgrade: () => () => undefined, checks: [], close: () => Promise.resolve() };
  }
  let source;
  try {
    source = await openFileSource({
      certFile: config.agentCert,
      keyFile: config.agentKey,
      ...(config.caCert ? { caFile: config.caCert } : {}),
      logger: logger.child({ component: 'certificates' }),
    });
  } catch (err) {
    if (err instanceof CertError) throw new AgentConfigError(`cannot use --agent-cert, --agent-key, --ca-cert: ${err.message}`);
    throw err;
  }
  const credentials = channelCredentialsFromSource(source);
  const clientCertificate = (): CertificateBundle => source.current();
  return {
    current: () => ({ ...fixed, credentials, clientCertificate }),
    onUpgrade: () => () => undefined,
    checks: [],
    close: () => source.close(),
  };
}

/** Options of authConnector. */
export interface AuthConnectorOptions {
  config: GrpcConnectorOptions['config'];
  clock: AgentClock;
  handshakeTimeoutMs: number;
  auth: ConnectionAuth;
  logger: Logger;
  /** Called after every connection whose headers arrived (the hooks' post-start waits for the first). */
  onConnected?: (conn: ServerConnection) => void;
}

/**
 * A gRPC connector that opens each connection with the auth's current
 * credentials and token, and closes the bootstrap ones on upgrade.
 */
export function authConnector(o: AuthConnectorOptions): ServerConnector {
  const bootstrapConns = new Set<ServerConnection>();
  o.auth.onUpgrade(() => {
    if (bootstrapConns.size > 0) {
      o.logger.info('reconnecting with the issued certificate', { closing: bootstrapConns.size });
    }
    for (const c of [...bootstrapConns]) c.close();
    bootstrapConns.clear();
  });
  return async (target, signal) => {
    const a = o.auth.current();
    const connect = grpcConnector({
      config: { ...o.config, serviceAccountTokenPath: a.tokenPath },
      clock: o.clock,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      ...(a.credentials ? { credentials: a.credentials } : {}),
    });
    let conn: ServerConnection;
    try {
      conn = await connect(target, signal);
    } catch (err) {
      const cert = a.clientCertificate?.();
      const problem = cert ? certificateDateProblem(cert, o.clock.now()) : undefined;
      if (problem && err instanceof Error) err.message = `${err.message}: ${problem}`;
      throw err;
    }
    if (a.bootstrap) {
      if (!o.auth.current().bootstrap) {
        // The certificate arrived while this one was being opened.
        conn.close();
        throw new AgentError('ERR_CONNECT_ABORTED', 'connection made with the bootstrap token closed: the certificate is there now');
      }
      bootstrapConns.add(conn);
      const close = conn.close.bind(conn);
      conn.close = () => {
        bootstrapConns.delete(conn);
        close();
      };
    }
    o.onConnected?.(conn);
    return conn;
  };
}
