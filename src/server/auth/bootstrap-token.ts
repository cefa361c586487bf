/**
 * Agent authentication in csr mode (--cert-source=csr). The agent port asks
 * for a client certificate but does not require one, so an agent may come:
 *
 * - with a certificate of the tunnel CA (or of --cluster-ca-cert): the
 *   certificate decides (mtls.ts; `CN=tunnel-agent:<cluster>` is bound to
 *   agent id and host `<cluster>`);
 * - without one, with the token of its cluster's bootstrap ServiceAccount
 *   `<namespace>/tunnel-bootstrap-<cluster>` (checked by TokenReview): bound
 *   to agent id and host `<cluster>`, exactly like the certificate it is
 *   about to request. This is how a new agent connects before it has a
 *   certificate;
 * - or, with upstream token authentication configured
 *   (--agent-namespace/--agent-service-account), with that ServiceAccount's
 *   token (unbound, as upstream).
 */
import { bootstrapServiceAccountRule } from '../../certs/approver-policy.js';
import { BOOTSTRAP_SERVICE_ACCOUNT_PREFIX } from '../../certs/signer-names.js';
import { mtlsAuthenticator } from './mtls.js';
import type { TokenUserRule } from './token-authenticator.js';
import { AgentAuthError, type AgentAuthenticator, type AgentIdentity } from './types.js';

/** Accepts the bootstrap ServiceAccount of any cluster in `namespace`, bound to that cluster. */
export function bootstrapTokenRule(namespace: string): TokenUserRule {
  const clusterOf = bootstrapServiceAccountRule(namespace);
  return {
    description: `system:serviceaccount:${namespace}:${BOOTSTRAP_SERVICE_ACCOUNT_PREFIX}<cluster>`,
    identityOf(username: string): AgentIdentity | undefined {
      const cluster = clusterOf(username, []);
      if (cluster === undefined) return undefined;
      return { subject: username, method: 'token', allowedAgentIDs: [cluster], allowedHosts: [cluster] };
    },
  };
}

/**
 * The certificate (through `certificates`) when the agent presented a
 * verified one, else `tokens`; neither is refused saying both ways in.
 */
export function certificateOrToken(tokens: AgentAuthenticator, certificates: AgentAuthenticator = mtlsAuthenticator): AgentAuthenticator {
  return {
    authenticate(ctx) {
      if (ctx.peerCertificate?.subject) return certificates.authenticate(ctx);
      if (ctx.authorization.length === 0) {
        return Promise.reject(
          new AgentAuthError(
            'ERR_AGENT_UNAUTHENTICATED',
            'a client certificate of the tunnel CA is required, or (to obtain one) the bootstrap ServiceAccount token of your cluster as "authorization: Bearer <token>"',
          ),
        );
      }
      return tokens.authenticate(ctx);
    },
  };
}
