/**
 * Where the server's certificates come from (--cert-source and the csr
 * flags). files: the upstream flag files, followed on disk (server-tls.ts).
 * csr: the server runs the tunnel's signer and gets its own certificate
 * from the Kubernetes CSR API (csr-tls.ts).
 */

/** --cert-source values. */
export type CertSourceKind = 'files' | 'csr';

/** The certificate settings of the server. */
export interface ServerCertSettings {
  source: CertSourceKind;
  /** --signer-name-prefix: the signers are `<prefix>/server` and `<prefix>/agent`. */
  signerNamePrefix: string;
  /** --cert-dir: where the server's key and certificate are kept (csr). */
  certDir: string;
  /** --cert-lifetime: the longest lifetime the signer issues, and what the server asks for its own. */
  certLifetimeMs: number;
  /** --namespace: the CA Secret `tunnel-ca`, the server's ServiceAccount and the bootstrap ServiceAccounts live here. */
  namespace: string;
  /** --server-service-account: the server's own ServiceAccount in `namespace`; only it may request server certificates. */
  serverServiceAccount: string;
  /** DNS names and IP addresses of the server certificate (--cert-san, env POD_IP, localhost, 127.0.0.1). */
  sans: string[];
  /** --ca-reload-interval: how often csr mode re-reads the CA Secret (trust bundle, promoted CA); default 5 min. */
  caReloadMs?: number;
}
