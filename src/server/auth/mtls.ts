/**
 * The agent authenticator of client certificates (the agent port verifies
 * them against --cluster-ca-cert, or the tunnel CA in csr mode): the
 * identity is the verified certificate's subject CN.
 *
 * Binding: a certificate of the tunnel's own form, `CN=tunnel-agent:<cluster>`
 * (what the tunnel signer issues, see certs/signer-names.ts), may announce
 * only agent id `<cluster>` and only `host=<cluster>`, so an agent of cluster
 * A can never register as cluster B. Any other CN (e.g. an upstream
 * proxy-agent certificate from files) is not bound by default: it may
 * announce any agent id and hosts, as with upstream proxy-server, where
 * agents often share one certificate. With --bind-agent-id-to-cn it may
 * announce only the agent id and `host=` equal to its CN.
 */
import { clusterOfCommonName } from '../../certs/signer-names.js';
import { type AgentAuthContext, AgentAuthError, type AgentAuthenticator, type AgentIdentity } from './types.js';

/** The certificate authenticator; with `bindCommonName` every CN binds the agent id and host to itself. */
export function mtlsAuthenticatorFor(opts: { bindCommonName: boolean }): AgentAuthenticator {
  return { authenticate: (ctx) => authenticateCertificate(ctx, opts.bindCommonName) };
}

/** Identity from the verified client certificate; refuses a Connect without one. Other CNs are unbound. */
export const mtlsAuthenticator: AgentAuthenticator = mtlsAuthenticatorFor({ bindCommonName: false });

function authenticateCertificate(ctx: AgentAuthContext, bindCommonName: boolean): Promise<AgentIdentity> {
  const cert = ctx.peerCertificate;
  if (!cert || !cert.subject) {
    return Promise.reject(new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', 'a client certificate signed by the cluster CA is required'));
  }
  const cn = firstValue(cert.subject.CN);
  if (!cn) {
    return Promise.reject(new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', 'the client certificate has no subject common name (CN)'));
  }
  return Promise.resolve(certificateIdentity(cn, bindCommonName));
}

/**
 * The identity of a verified certificate CN: bound to its cluster when it
 * names one, to the CN itself when `bindCommonName`, else unbound.
 */
export function certificateIdentity(cn: string, bindCommonName = false): AgentIdentity {
  const bound = clusterOfCommonName(cn) ?? (bindCommonName ? cn : undefined);
  if (bound === undefined) return { subject: cn, method: 'mtls' };
  return { subject: cn, method: 'mtls', allowedAgentIDs: [bound], allowedHosts: [bound] };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
