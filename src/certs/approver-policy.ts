/**
 * The approval policy of the tunnel's signers. A CSR is approved only when
 * every rule holds; otherwise the first broken rule is reported, by name,
 * in the Denied condition's message.
 *
 * Rules (in the order they are checked):
 * - `signature`: the request is signed by the key it carries.
 * - `requester`: agent CSRs come from a cluster's bootstrap ServiceAccount
 *   (the injectable `clusterOfRequester` rule decides which cluster);
 *   server CSRs only from the server's own ServiceAccount(s).
 * - `common-name`: agents get exactly `tunnel-agent:<their cluster>`;
 *   servers exactly the configured server name.
 * - `organization`: never a `system:` organisation; agents carry exactly the
 *   agent group; servers none.
 * - `subject`: nothing besides CN and O in the subject.
 * - `usages`: agents: `client auth` required, never `server auth`; servers:
 *   `server auth` required, never `client auth`; besides those only
 *   `digital signature` and `key encipherment`.
 * - `key`: ECDSA P-256 or P-384, or RSA of 2048 bits or more.
 * - `sans`: only what the policy allows (agents: none by default; servers:
 *   the configured names and addresses); never e-mail, URI or other names.
 *
 * The signer re-checks the content rules (everything but `requester`)
 * before signing, so a request approved by someone else still cannot get a
 * `system:masters` organisation or a server-auth agent certificate.
 */
import { CertError } from './errors.js';
import type { ParsedCsr } from './csr-request.js';
import {
  agentCommonName,
  BOOTSTRAP_SERVICE_ACCOUNT_PREFIX,
  clusterOfCommonName,
  DEFAULT_AGENT_GROUP,
  DEFAULT_BOOTSTRAP_NAMESPACE,
  DEFAULT_SERVER_COMMON_NAME,
  DEFAULT_SIGNER_PREFIX,
  signerNames,
  type SignerNames,
} from './signer-names.js';

/** What a CSR asks for and who asked. */
export interface CsrFacts {
  signerName: string;
  /** spec.username, set by the API from the authenticated requester. */
  username?: string;
  groups: string[];
  usages: string[];
  request: ParsedCsr;
}

/**
 * Decides which cluster a requester may ask an agent certificate for:
 * the cluster name, or undefined when the requester may ask for none.
 */
export type RequesterClusterRule = (username: string | undefined, groups: string[]) => string | undefined;

const CLUSTER_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * The default requester rule: the requester must be the ServiceAccount
 * `<namespace>/tunnel-bootstrap-<cluster>` (user
 * `system:serviceaccount:<namespace>:tunnel-bootstrap-<cluster>`), and may
 * then ask for `<cluster>` only. The cluster must be a DNS name.
 */
export function bootstrapServiceAccountRule(namespace: string = DEFAULT_BOOTSTRAP_NAMESPACE): RequesterClusterRule {
  const prefix = `system:serviceaccount:${namespace}:${BOOTSTRAP_SERVICE_ACCOUNT_PREFIX}`;
  return (username) => {
    if (!username?.startsWith(prefix)) return undefined;
    const cluster = username.slice(prefix.length);
    return CLUSTER_RE.test(cluster) ? cluster : undefined;
  };
}

/** SANs a certificate may carry. */
export interface AllowedSans {
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** Options of ApproverPolicy. */
export interface ApproverPolicyOptions {
  /** Signer name prefix; default `tunnel.tkestack.io`. */
  signerPrefix?: string;
  /** The organisation of agent certificates; default `tunnel.tkestack.io:agents`; never `system:...`. */
  agentGroup?: string;
  /** Which cluster a requester may ask for; default bootstrapServiceAccountRule('kube-system'). */
  clusterOfRequester?: RequesterClusterRule;
  /** User names allowed to request server certificates (the server's ServiceAccount). */
  serverRequesters: string[];
  /** Common name of server certificates; default `tunnel-server`. */
  serverCommonName?: string;
  /** SANs server certificates may carry. */
  serverSans?: AllowedSans;
  /** SANs the agent of a cluster may carry; default none. */
  agentSans?: (cluster: string) => AllowedSans;
}

/** The rules, as named in denial messages. */
export type PolicyRule = 'signature' | 'requester' | 'common-name' | 'organization' | 'subject' | 'usages' | 'key' | 'sans';

/** The outcome of a check. */
export type PolicyDecision =
  | { allowed: true; role: 'agent' | 'server'; cluster?: string; summary: string }
  | { allowed: false; rule: PolicyRule; message: string };

const BASE_USAGES = ['digital signature', 'key encipherment'];

function deny(rule: PolicyRule, detail: string): PolicyDecision {
  return { allowed: false, rule, message: `rule ${rule}: ${detail}` };
}

const q = (v: string): string => JSON.stringify(v);
const list = (v: string[]): string => `[${v.map(q).join(', ')}]`;

/** The approval policy of one tunnel installation. */
export class ApproverPolicy {
  /** The signer names this policy covers. */
  readonly signers: SignerNames;
  private readonly agentGroup: string;
  private readonly clusterOf: RequesterClusterRule;
  private readonly serverCn: string;

  /** Throws CertError ERR_CERT_CONFIG for a `system:` agent group or no server requester. */
  constructor(private readonly opts: ApproverPolicyOptions) {
    this.signers = signerNames(opts.signerPrefix ?? DEFAULT_SIGNER_PREFIX);
    this.agentGroup = opts.agentGroup ?? DEFAULT_AGENT_GROUP;
    if (this.agentGroup.startsWith('system:') || this.agentGroup === '') {
      throw new CertError('ERR_CERT_CONFIG', `agent group ${q(this.agentGroup)} is not allowed: it must be non-empty and not a system: group`);
    }
    this.clusterOf = opts.clusterOfRequester ?? bootstrapServiceAccountRule();
    this.serverCn = opts.serverCommonName ?? DEFAULT_SERVER_COMMON_NAME;
  }

  /** The agent group (organisation of agent certificates). */
  get group(): string {
    return this.agentGroup;
  }

  /** True for the signer names this policy covers. */
  isOurs(signerName: string): boolean {
    return signerName === this.signers.agent || signerName === this.signers.server;
  }

  /** The full check of an approval: requester and content. */
  decide(f: CsrFacts): PolicyDecision {
    if (!f.request.signatureValid) return deny('signature', 'the request is not signed by the key it carries');
    if (f.signerName === this.signers.agent) {
      const cluster = this.clusterOf(f.username, f.groups);
      if (cluster === undefined) {
        return deny(
          'requester',
          `${q(f.username ?? '')} is not the bootstrap ServiceAccount of any cluster; agent certificates are issued only to the bootstrap ServiceAccount of their cluster`,
        );
      }
      return this.checkAgent(f, cluster);
    }
    if (f.signerName === this.signers.server) {
      if (!f.username || !this.opts.serverRequesters.includes(f.username)) {
        return deny('requester', `${q(f.username ?? '')} may not request server certificates (allowed: ${list(this.opts.serverRequesters)})`);
      }
      return this.checkServer(f);
    }
    return deny('requester', `signer ${q(f.signerName)} is not a tunnel signer`);
  }

  /**
   * The content check the signer repeats before signing a request someone
   * approved: everything but the requester rule (an agent CN must still
   * name a cluster, but any cluster).
   */
  checkContent(f: CsrFacts): PolicyDecision {
    if (!f.request.signatureValid) return deny('signature', 'the request is not signed by the key it carries');
    if (f.signerName === this.signers.server) return this.checkServer(f);
    const cn = f.request.commonNames;
    const cluster = cn.length === 1 ? clusterOfCommonName(cn[0]!) : undefined;
    if (cluster === undefined || !CLUSTER_RE.test(cluster)) {
      return deny('common-name', `CN must be ${q(agentCommonName('<cluster>'))}, got ${list(cn)}`);
    }
    return this.checkAgent(f, cluster);
  }

  private checkAgent(f: CsrFacts, cluster: string): PolicyDecision {
    const r = f.request;
    const want = agentCommonName(cluster);
    if (r.commonNames.length !== 1 || r.commonNames[0] !== want) {
      return deny('common-name', `CN ${list(r.commonNames)} does not match the requester's cluster ${q(cluster)}: the only CN allowed is ${q(want)}`);
    }
    const org = this.checkOrganizations(r.organizations, [this.agentGroup], 'agent');
    if (org) return org;
    const rest =
      this.checkSubject(r) ??
      this.checkUsages(f.usages, 'client auth', 'server auth', 'agent') ??
      this.checkKey(r) ??
      this.checkSans(r, this.opts.agentSans?.(cluster) ?? {}, 'agent');
    return rest ?? { allowed: true, role: 'agent', cluster, summary: `agent certificate ${q(want)} for the bootstrap account of cluster ${q(cluster)}` };
  }

  private checkServer(f: CsrFacts): PolicyDecision {
    const r = f.request;
    if (r.commonNames.length !== 1 || r.commonNames[0] !== this.serverCn) {
      return deny('common-name', `server certificates have CN ${q(this.serverCn)}, got ${list(r.commonNames)}`);
    }
    const rest =
      this.checkOrganizations(r.organizations, [], 'server') ??
      this.checkSubject(r) ??
      this.checkUsages(f.usages, 'server auth', 'client auth', 'server') ??
      this.checkKey(r) ??
      this.checkSans(r, this.opts.serverSans ?? {}, 'server');
    return rest ?? { allowed: true, role: 'server', summary: `server certificate ${q(this.serverCn)} for ${q(f.username ?? '')}` };
  }

  private checkOrganizations(orgs: string[], want: string[], role: string): PolicyDecision | undefined {
    const sys = orgs.find((o) => o.toLowerCase().startsWith('system:'));
    if (sys !== undefined) return deny('organization', `organisation ${q(sys)} is never allowed`);
    if (orgs.length !== want.length || orgs.some((o, i) => o !== want[i])) {
      return deny('organization', `${role} certificates carry exactly the organisations ${list(want)}, got ${list(orgs)}`);
    }
    return undefined;
  }

  private checkSubject(r: ParsedCsr): PolicyDecision | undefined {
    if (r.otherSubjectFields.length === 0) return undefined;
    return deny('subject', `only CN and O are allowed in the subject, got ${list([...new Set(r.otherSubjectFields)])}`);
  }

  private checkUsages(usages: string[], need: string, never: string, role: string): PolicyDecision | undefined {
    if (usages.includes(never)) return deny('usages', `${role} certificates may not have usage ${q(never)}`);
    if (!usages.includes(need)) return deny('usages', `${role} certificates need usage ${q(need)}`);
    const extra = usages.filter((u) => u !== need && !BASE_USAGES.includes(u));
    if (extra.length > 0) return deny('usages', `usages ${list(extra)} are not allowed on ${role} certificates (allowed: ${list([need, ...BASE_USAGES])})`);
    return undefined;
  }

  private checkKey(r: ParsedCsr): PolicyDecision | undefined {
    const k = r.key;
    if (k.type === 'ec') {
      return k.curve === 'P-256' || k.curve === 'P-384' ? undefined : deny('key', `ECDSA curve ${q(k.curve ?? 'unknown')} is not allowed (P-256 or P-384)`);
    }
    if (k.type === 'rsa') {
      return (k.bits ?? 0) >= 2048 ? undefined : deny('key', `an RSA key of ${k.bits ?? 0} bits is too weak (at least 2048)`);
    }
    return deny('key', `key type ${q(k.type)} is not allowed (ECDSA P-256/P-384 or RSA of at least 2048 bits)`);
  }

  private checkSans(r: ParsedCsr, allowed: AllowedSans, role: string): PolicyDecision | undefined {
    const forbidden = [...r.emails.map((e) => `email:${e}`), ...r.uris.map((u) => `URI:${u}`), ...r.otherSans];
    if (forbidden.length > 0) return deny('sans', `${role} certificates may not carry ${list(forbidden)}`);
    const dns = r.dnsNames.filter((d) => !(allowed.dnsNames ?? []).includes(d)).map((d) => `DNS:${d}`);
    const ips = r.ipAddresses.filter((i) => !(allowed.ipAddresses ?? []).includes(i)).map((i) => `IP:${i}`);
    if (dns.length + ips.length > 0) {
      const allow = [...(allowed.dnsNames ?? []).map((d) => `DNS:${d}`), ...(allowed.ipAddresses ?? []).map((i) => `IP:${i}`)];
      return deny('sans', `${list([...dns, ...ips])} not allowed on ${role} certificates (allowed: ${allow.length ? list(allow) : 'none'})`);
    }
    return undefined;
  }
}
