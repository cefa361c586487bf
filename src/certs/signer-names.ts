/**
 * The names the tunnel's certificates are built from: its two signer names
 * (`<prefix>/server`, `<prefix>/agent`), the agent group (the only
 * organisation an agent certificate carries), the agent common name
 * `tunnel-agent:<cluster>`, the per-cluster bootstrap ServiceAccount, and
 * the usages each kind of certificate asks for.
 */

/** Default prefix of the signer names. */
export const DEFAULT_SIGNER_PREFIX = 'tunnel.tkestack.io';

/** The two signer names of a prefix. */
export interface SignerNames {
  /** Server certificates (the agent port, the frontend). */
  server: string;
  /** Agent client certificates. */
  agent: string;
}

/** `<prefix>/server` and `<prefix>/agent`. */
export function signerNames(prefix: string = DEFAULT_SIGNER_PREFIX): SignerNames {
  return { server: `${prefix}/server`, agent: `${prefix}/agent` };
}

/** The organisation (O=) of every agent certificate; never a `system:` group. */
export const DEFAULT_AGENT_GROUP = 'tunnel.tkestack.io:agents';

/** Agent certificates are `CN=tunnel-agent:<cluster>`. */
export const AGENT_CN_PREFIX = 'tunnel-agent:';

/** The common name of the agent of `cluster`. */
export function agentCommonName(cluster: string): string {
  return `${AGENT_CN_PREFIX}${cluster}`;
}

/** The cluster named by an agent common name, or undefined when it is not one. */
export function clusterOfCommonName(cn: string): string | undefined {
  return cn.startsWith(AGENT_CN_PREFIX) && cn.length > AGENT_CN_PREFIX.length ? cn.slice(AGENT_CN_PREFIX.length) : undefined;
}

/** Default common name of server certificates. */
export const DEFAULT_SERVER_COMMON_NAME = 'tunnel-server';

/** Namespace of the per-cluster bootstrap ServiceAccounts (in the meta cluster). */
export const DEFAULT_BOOTSTRAP_NAMESPACE = 'kube-system';

/** Bootstrap ServiceAccounts are named `tunnel-bootstrap-<cluster>`. */
export const BOOTSTRAP_SERVICE_ACCOUNT_PREFIX = 'tunnel-bootstrap-';

/** The user name of the bootstrap ServiceAccount of `cluster`. */
export function bootstrapUser(cluster: string, namespace: string = DEFAULT_BOOTSTRAP_NAMESPACE): string {
  return `system:serviceaccount:${namespace}:${BOOTSTRAP_SERVICE_ACCOUNT_PREFIX}${cluster}`;
}

/** Usages an agent asks for. */
export const AGENT_USAGES = ['digital signature', 'client auth'];
/** Usages a server asks for. */
export const SERVER_USAGES = ['digital signature', 'server auth'];
