/**
 * The certificates of the server's two TLS listeners (agent port, TCP
 * frontend) as CertificateSources, so that a new certificate reaches new
 * handshakes without a restart while established tunnels keep theirs.
 *
 * - files (default, `--cert-source=files`): the upstream flag files
 *   (--cluster-cert/--cluster-key/--cluster-ca-cert for the agent port,
 *   --server-cert/--server-key for the frontend), re-read when they change:
 *   a cert-manager renewal or a Secret update on disk is picked up.
 * - csr (`--cert-source=csr`, csr-tls.ts): one certificate from the
 *   Kubernetes CSR API for both listeners.
 *
 * TunnelServer opens the files itself when it is given no ServerTls, and
 * closes whatever it used on shutdown.
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { CertError, type CertificateSource, followSourceOnTlsServer, openFileSource, tlsContextOptions, type TlsFollowOptions } from '../certs/index.js';
import type { NamedCheck } from '../observability/http-endpoint.js';
import type { Logger } from '../observability/logger.js';
import type { ClientCertMode } from './agent-credentials.js';
import type { ServerConfig } from './config.js';
import { ServerError } from './errors.js';

/** The frontend's certificate and the CA its clients' certificates must chain to. */
export interface FrontendTls {
  source: CertificateSource;
  /**
   * CA bundle of frontend clients (PEM). Undefined: the source's own CA
   * bundle (csr mode without --server-ca-cert: the tunnel CA).
   */
  clientCa?: Buffer;
}

/** TLS material of the server's listeners. */
export interface ServerTls {
  /** Certificate of the agent port; its CA bundle verifies agents' certificates. */
  agent: CertificateSource;
  clientCerts: ClientCertMode;
  /** The frontend's certificate; called only when the TCP frontend is wanted. */
  openFrontend(): Promise<FrontendTls>;
  /** Extra readiness checks (e.g. the CSR manager's). */
  checks: NamedCheck[];
  /** Stops watching files, renewing, signing. */
  close(): Promise<void>;
}

/** The files of the upstream flags; throws ServerError ERR_BAD_CONFIG naming the flags. */
export async function openFileServerTls(c: ServerConfig, logger: Logger): Promise<ServerTls> {
  if (!c.clusterCert || !c.clusterKey) {
    throw new ServerError('ERR_BAD_CONFIG', 'the agent port is always TLS: set --cluster-cert and --cluster-key');
  }
  const log = logger.child({ component: 'certificates' });
  const agent = await openNamed(
    { certFile: c.clusterCert, keyFile: c.clusterKey, ...(c.clusterCaCert ? { caFile: c.clusterCaCert } : {}), logger: log },
    'the agent port (--cluster-cert, --cluster-key, --cluster-ca-cert)',
  );
  const opened: CertificateSource[] = [agent];
  const openFrontend = async (): Promise<FrontendTls> => {
    if (!c.serverCert || !c.serverKey || !c.serverCaCert) {
      throw new ServerError('ERR_BAD_CONFIG', 'the TCP frontend is mTLS: set --server-cert, --server-key and --server-ca-cert');
    }
    const source = await openNamed(
      { certFile: c.serverCert, keyFile: c.serverKey, logger: log },
      'the frontend (--server-cert, --server-key)',
    );
    opened.push(source);
    return { source, clientCa: readPem(c.serverCaCert, '--server-ca-cert') };
  };
  return {
    agent,
    clientCerts: c.clusterCaCert ? 'require' : 'none',
    openFrontend,
    checks: [],
    close: async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    },
  };
}

/**
 * The TCP frontend's tls.Server options (mTLS, --tls-min-version,
 * --cipher-suites, h2 and http/1.1 by ALPN) and the function that keeps
 * its certificate in step with the source.
 */
export function frontendTlsOptions(
  f: FrontendTls,
  c: Pick<ServerConfig, 'tlsMinVersion' | 'cipherSuites'>,
  logger: Logger,
): { tls: tls.TlsOptions; follow(server: tls.Server): () => void } {
  const follow: TlsFollowOptions = {
    base: {
      minVersion: c.tlsMinVersion,
      ...(f.clientCa ? { ca: f.clientCa } : {}),
      ...(c.cipherSuites.length > 0 ? { ciphers: c.cipherSuites.join(':') } : {}),
    },
    useSourceCa: f.clientCa === undefined,
  };
  return {
    tls: { ...tlsContextOptions(f.source.current(), follow), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2', 'http/1.1'] },
    follow: (server) => followSourceOnTlsServer(server, f.source, logger.child({ listener: 'frontend' }), follow),
  };
}

async function openNamed(opts: Parameters<typeof openFileSource>[0], what: string): Promise<CertificateSource> {
  try {
    return await openFileSource(opts);
  } catch (err) {
    if (err instanceof CertError) throw new ServerError('ERR_BAD_CONFIG', `cannot use the certificate files of ${what}: ${err.message}`);
    throw err;
  }
}

/** Reads a PEM file named by a flag; ServerError ERR_BAD_CONFIG when it cannot. */
export function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ServerError('ERR_BAD_CONFIG', `cannot read ${flag} ${file}: ${(e as Error).message}`);
  }
}
