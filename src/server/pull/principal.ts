/**
 * Who is pulling: the names an allow-list entry may match for an
 * authenticated agent, derived from what its credential proves, never from
 * what it merely claims.
 *
 * - Client certificate (method `mtls`): the certificate decides. It matches
 *   its CN and, for `CN=tunnel-agent:<cluster>`, the cluster name. Its agent
 *   id counts only when the identity binds agent ids (allowedAgentIDs) and
 *   lists it: so an agent of cluster A never gets cluster B's allowances by
 *   announcing B's agent id.
 * - Token (method `token`): agents sharing one ServiceAccount cannot be told
 *   apart by the token, so the agent id they announce is what names them (as
 *   Connect trusts it), besides the ServiceAccount user name; bound to
 *   allowedAgentIDs when the identity has them.
 * - Anonymous (method `none`): never a principal; pull needs authentication.
 */
import { clusterOfCommonName } from '../../certs/signer-names.js';
import type { AgentIdentity } from '../auth/types.js';

/** An authenticated agent as pull mode sees it. */
export interface PullPrincipal {
  /** The announced agent id. */
  agentID: string;
  identity: AgentIdentity;
  /** The names allow-list identities are compared with (`*` matches any principal). */
  names: string[];
  /** Key of the per-agent bound on concurrent pull connections. */
  key: string;
}

/** The principal of an authenticated agent; undefined for an anonymous one. */
export function pullPrincipal(agentID: string, identity: AgentIdentity): PullPrincipal | undefined {
  if (identity.method === 'none') return undefined;
  const names = [identity.subject];
  const bound = identity.allowedAgentIDs;
  let key: string;
  if (identity.method === 'mtls') {
    const cluster = clusterOfCommonName(identity.subject);
    if (cluster !== undefined) names.push(cluster);
    if (bound?.includes(agentID)) names.push(agentID);
    key = `mtls:${identity.subject}`;
  } else {
    if (bound === undefined || bound.includes(agentID)) names.push(agentID);
    key = `${identity.method}:${identity.subject}:${agentID}`;
  }
  return { agentID, identity, names: [...new Set(names)], key };
}
