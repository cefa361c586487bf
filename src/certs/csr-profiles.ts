/**
 * What the tunnel's own identities ask for: the agent of a cluster
 * (`CN=tunnel-agent:<cluster>`, O = agent group, client auth, agent signer)
 * and a server (`CN=tunnel-server`, server auth, server signer, its SANs).
 * Spread a profile into CsrManagerOptions.
 */
import type { CsrSubject } from './csr-request.js';
import {
  AGENT_USAGES,
  agentCommonName,
  DEFAULT_AGENT_GROUP,
  DEFAULT_SERVER_COMMON_NAME,
  SERVER_USAGES,
  signerNames,
} from './signer-names.js';

/** The request side of an identity. */
export interface CertificateProfile {
  /** File base name in the cert dir. */
  name: string;
  /** Metric label: `agent` or `server`. */
  role: 'agent' | 'server';
  /** Metric label: `client` or `server`. */
  usage: 'client' | 'server';
  signerName: string;
  subject: CsrSubject;
  usages: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Prefix of the CSR objects' names. */
  csrNamePrefix: string;
}

/** The agent identity of `cluster`. */
export function agentProfile(cluster: string, opts: { signerPrefix?: string; agentGroup?: string } = {}): CertificateProfile {
  return {
    name: 'agent-client',
    role: 'agent',
    usage: 'client',
    signerName: signerNames(opts.signerPrefix).agent,
    subject: { commonName: agentCommonName(cluster), organizations: [opts.agentGroup ?? DEFAULT_AGENT_GROUP] },
    usages: [...AGENT_USAGES],
    csrNamePrefix: `tunnel-agent-${cluster}-`.slice(0, 200),
  };
}

/** A server identity (the agent port, the frontend). */
export function serverProfile(
  opts: { signerPrefix?: string; commonName?: string; dnsNames?: string[]; ipAddresses?: string[] } = {},
): CertificateProfile {
  return {
    name: 'server',
    role: 'server',
    usage: 'server',
    signerName: signerNames(opts.signerPrefix).server,
    subject: { commonName: opts.commonName ?? DEFAULT_SERVER_COMMON_NAME },
    usages: [...SERVER_USAGES],
    ...(opts.dnsNames ? { dnsNames: opts.dnsNames } : {}),
    ...(opts.ipAddresses ? { ipAddresses: opts.ipAddresses } : {}),
    csrNamePrefix: 'tunnel-server-',
  };
}
