/**
 * The default agent authenticator when the agent port verifies client
 * certificates (clusterCaCert set): the identity is the verified
 * certificate's subject. Which agent ids and hosts a certificate may claim
 * is left open here (allowedAgentIDs/allowedHosts undefined); a later policy
 * binds them.
 */
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
    return Promise.resolve({ subject: cn, method: 'mtls' });
  },
};

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
