/**
 * The agent authenticator of client certificates (the agent port verifies
 * them against --cluster-ca-cert, or the tunnel CA in csr mode): the
 * identity is the verified certificate's subject CN.
 *
 * Binding: a certificate of the tunnel's own form, `CN=tunnel-agent:<cluster>`
 * (what the tunnel signer issues, see certs/signer-names.ts), may announce
 * only agent id `<cluster>` and only `host=<cluster>`, so an agent of cluster
 * A can never register as cluster B. Any other CN (e.g. an upstream
 * proxy-agent certificate from files) is not bound: it may announce any
 * agent id and hosts, as with upstream proxy-server.
 */
import { clusterOfCommonName } from '../../certs/signer-names.js';
import { AgentAuthError, type AgentAuthenticator, type AgentIdentity } from './types.js';

/** Identity from the verified client certificate; refuses a Connect without one. */
export const mtlsAuthenticator: AgentAuthenticator = {
  authenticate(ctx): Promise<AgentIdentity> {
    const cert = ctx.peerCertificate;
    if (!cert || !cert.subject) {
      return Promise.reject(
        new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', 'a client certificate signed by the cluster CA is required'),
      );
    }
    const cn = firstValue(cert.subject.CN);
    if (!cn) {
      return Promise.reject(
        new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', 'the client certificate has no subject common name (CN)'),
      );
    }
    return Promise.resolve(certificateIdentity(cn));
  },
};

/** The identity of a verified certificate CN, bound to its cluster when it names one. */
export function certificateIdentity(cn: string): AgentIdentity {
  const cluster = clusterOfCommonName(cn);
  if (cluster === undefined) return { subject: cn, method: 'mtls' };
  return { subject: cn, method: 'mtls', allowedAgentIDs: [cluster], allowedHosts: [cluster] };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
