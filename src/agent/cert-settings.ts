/**
 * Where the agent's client certificate comes from (--cert-source and the
 * csr flags). files: --agent-cert/--agent-key/--ca-cert, followed on disk
 * (connection-auth.ts). csr: a certificate of the tunnel CA from the
 * Kubernetes CSR API, obtained with a bootstrap token (csr-auth.ts).
 */

/** The certificate settings of the agent. */
export interface AgentCertSettings {
  source: 'files' | 'csr';
  /** --signer-name-prefix: the agent signer is `<prefix>/agent`. */
  signerNamePrefix: string;
  /** --cert-dir: where the agent's key and certificate are kept (csr). */
  certDir: string;
  /** --cert-lifetime: the lifetime asked for (the signer may cap it). */
  certLifetimeMs: number;
  /** --bootstrap-token-path: the token of the meta-cluster ServiceAccount `tunnel-bootstrap-<cluster>`. */
  bootstrapTokenPath: string;
  /**
   * --meta-kubeconfig: the meta cluster's API for the CSR (and the hooks'
   * metaKubeConfig); '' = pull mode's client through the tunnel. With
   * bootstrapTokenPath the agent acts as its bootstrap ServiceAccount.
   */
  metaKubeconfig: string;
}
