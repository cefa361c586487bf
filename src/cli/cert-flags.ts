/**
 * Flags of the certificate source (ours, not upstream's): --cert-source and
 * what csr mode needs, how they land in ServerCertSettings and
 * AgentCertSettings, and the checks that say which flag to fix.
 */
import { DEFAULT_SIGNER_PREFIX } from '../certs/signer-names.js';
import type { AgentCertSettings } from '../agent/cert-settings.js';
import type { AgentConfig } from '../agent/config.js';
import { parseIdentifiers } from '../protocol/identifiers.js';
import type { ServerCertSettings } from '../server/cert-settings.js';
import type { ServerConfig } from '../server/config.js';
import type { FlagSpec } from './flag-spec.js';
import type { FlagValues } from './flag-values.js';
import { checkOneOf, requireFile } from './option-checks.js';
import { UsageError } from './usage-error.js';

/** --cert-lifetime default: 8760h (a year), in ms. */
export const DEFAULT_CERT_LIFETIME_MS = 8760 * 3_600_000;
/** --ca-reload-interval default: 5 minutes, in ms. */
export const DEFAULT_CA_RELOAD_MS = 5 * 60_000;
/** --namespace default. */
export const DEFAULT_CERT_NAMESPACE = 'kube-system';
/** --server-service-account default (as deploy/ names it). */
export const DEFAULT_SERVER_SERVICE_ACCOUNT = 'tunnel-server';
/** Shortest --cert-lifetime (the CSR API's minimum expirationSeconds). */
const MIN_CERT_LIFETIME_MS = 600_000;
/** Env var that lowers the shortest --cert-lifetime to SHORT_CERT_LIFETIME_MS, for tests (like TUNNEL_ALLOW_EPHEMERAL_PORTS). */
export const SHORT_CERT_LIFETIME_ENV = 'TUNNEL_ALLOW_SHORT_CERT_LIFETIME';
/** Shortest --cert-lifetime under TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1. */
const SHORT_CERT_LIFETIME_MS = 1_000;
/** A cluster name as the approver accepts it (a DNS name). */
const CLUSTER_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const SOURCE: FlagSpec = {
  name: 'cert-source',
  kind: 'string',
  def: 'files',
  group: 'certs',
  doc: 'Where certificates come from. files: the certificate flags\' files, re-read when they change on disk (cert-manager, Secret updates): new connections get the new certificate without a restart, open tunnels stay. csr: from the Kubernetes CSR API of the meta cluster, renewed before expiry.',
};

const COMMON: readonly FlagSpec[] = [
  {
    name: 'signer-name-prefix',
    kind: 'string',
    def: DEFAULT_SIGNER_PREFIX,
    group: 'certs',
    doc: 'csr: the tunnel\'s signer names are <prefix>/server and <prefix>/agent.',
  },
  {
    name: 'cert-dir',
    kind: 'string',
    def: '',
    group: 'certs',
    doc: 'csr (required): writable directory (e.g. an emptyDir) where the key and certificate are kept; a valid stored certificate is reused at restart.',
  },
];

export const SERVER_CERT_FLAGS: readonly FlagSpec[] = [
  {
    ...SOURCE,
    doc: `${SOURCE.doc} The server then runs the tunnel signer (CA in the Secret tunnel-ca of --namespace), gets its own certificate for both listeners, and accepts agents with a certificate of the tunnel CA or their bootstrap token.`,
  },
  ...COMMON,
  {
    name: 'cert-lifetime',
    kind: 'duration',
    def: '8760h0m0s',
    group: 'certs',
    doc: 'csr: longest lifetime of the certificates the signer issues (agents may ask for less), and the lifetime of the server\'s own. At least 10m (1s with env TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1, for tests: the signer then issues certificates shorter than the CSR API\'s 10-minute minimum).',
  },
  {
    name: 'namespace',
    kind: 'string',
    def: DEFAULT_CERT_NAMESPACE,
    group: 'certs',
    doc: 'csr: meta-cluster namespace of the CA Secret tunnel-ca, of the server\'s ServiceAccount and of the agents\' bootstrap ServiceAccounts tunnel-bootstrap-<cluster>.',
  },
  {
    name: 'server-service-account',
    kind: 'string',
    def: DEFAULT_SERVER_SERVICE_ACCOUNT,
    group: 'certs',
    doc: 'csr: the server\'s own ServiceAccount in --namespace, the only requester of server certificates (--kubeconfig or the in-cluster identity must be it).',
  },
  {
    name: 'cert-san',
    kind: 'list',
    def: '',
    group: 'certs',
    doc: 'csr: more DNS names and IP addresses of the server certificate (repeatable or comma-separated), e.g. the frontend Service name and the load balancer name agents dial. Always included: localhost, 127.0.0.1 and env POD_IP.',
  },
  {
    name: 'ca-reload-interval',
    kind: 'duration',
    def: '5m0s',
    group: 'certs',
    doc: 'csr: how often the server re-reads the CA Secret tunnel-ca: a CA staged by `tunnel ca stage` joins the trust bundle of both listeners, and after `tunnel ca promote` the server renews its own certificate under the new CA. Agent certificates are always signed with the CA in the Secret at that moment. At least 1s.',
  },
];

export const AGENT_CERT_FLAGS: readonly FlagSpec[] = [
  {
    ...SOURCE,
    doc: `${SOURCE.doc} The agent then starts with --bootstrap-token-path and --ca-cert (the tunnel CA), requests CN=tunnel-agent:<cluster>, and reconnects with it.`,
  },
  ...COMMON,
  {
    name: 'cert-lifetime',
    kind: 'duration',
    def: '8760h0m0s',
    group: 'certs',
    doc: 'csr: lifetime asked for the agent certificate (the server\'s --cert-lifetime caps it). At least 10m (1s with env TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1, for tests; the CSR still asks for at least 10m, the API\'s minimum).',
  },
  {
    name: 'bootstrap-token-path',
    kind: 'string',
    def: '',
    group: 'certs',
    doc: 'csr (required): file holding a token of the meta-cluster ServiceAccount tunnel-bootstrap-<cluster>; used to connect until the certificate is issued and to request it.',
  },
  {
    name: 'meta-kubeconfig',
    kind: 'string',
    def: '',
    group: 'certs',
    doc: "Kubeconfig of the meta cluster's API, for the certificate request (csr) and the hooks' meta-cluster client, instead of pull mode's client through the tunnel. With --bootstrap-token-path the agent acts as its bootstrap ServiceAccount.",
  },
  {
    name: 'cluster-name',
    kind: 'string',
    def: '',
    group: 'server-connection',
    doc: 'Name of the managed cluster: the agent certificate is CN=tunnel-agent:<cluster-name> (csr), and hooks report under it. Empty: the host= of --agent-identifiers, else the agent id.',
  },
];

/** The server's certificate settings (sans: --cert-san, env POD_IP, localhost, 127.0.0.1). */
export function serverCertSettingsFromFlags(values: FlagValues, env: NodeJS.ProcessEnv): ServerCertSettings {
  const sans = ['localhost', '127.0.0.1', ...(env['POD_IP'] ? [env['POD_IP']] : []), ...(values.list('cert-san') ?? [])];
  return {
    source: certSource(values),
    signerNamePrefix: values.string('signer-name-prefix') ?? DEFAULT_SIGNER_PREFIX,
    certDir: values.string('cert-dir') ?? '',
    certLifetimeMs: lifetime(values, env),
    namespace: values.string('namespace') ?? DEFAULT_CERT_NAMESPACE,
    serverServiceAccount: values.string('server-service-account') ?? DEFAULT_SERVER_SERVICE_ACCOUNT,
    sans: [...new Set(sans)],
    caReloadMs: caReload(values),
  };
}

/** The agent's certificate settings. */
export function agentCertSettingsFromFlags(values: FlagValues, env: NodeJS.ProcessEnv): AgentCertSettings {
  return {
    source: certSource(values),
    signerNamePrefix: values.string('signer-name-prefix') ?? DEFAULT_SIGNER_PREFIX,
    certDir: values.string('cert-dir') ?? '',
    certLifetimeMs: lifetime(values, env),
    bootstrapTokenPath: values.string('bootstrap-token-path') ?? '',
    metaKubeconfig: values.string('meta-kubeconfig') ?? '',
  };
}

/**
 * csr mode of the server: the certificate file flags are replaced (refused),
 * --cert-dir is needed, and the meta cluster must be reachable.
 */
export function checkServerCerts(c: ServerConfig, env: NodeJS.ProcessEnv): void {
  const s = c.certs;
  if (!s || s.source !== 'csr') return;
  for (const [flag, v] of [
    ['cluster-cert', c.clusterCert],
    ['cluster-key', c.clusterKey],
    ['server-cert', c.serverCert],
    ['server-key', c.serverKey],
  ] as const) {
    if (v !== '') throw new UsageError(`--${flag} cannot be combined with --cert-source=csr: the server's certificate comes from the CSR API`);
  }
  if (s.certDir === '') throw new UsageError('--cert-source=csr needs --cert-dir: a writable directory for the server\'s key and certificate');
  checkName('namespace', s.namespace);
  checkName('server-service-account', s.serverServiceAccount);
  requireKube(c.kubeconfig, env, '--cert-source=csr runs the tunnel signer against the Kubernetes API');
}

/**
 * csr mode of the agent: no file certificate, the bootstrap material, and
 * an agent id and host= that the certificate will allow (the server binds
 * CN=tunnel-agent:<cluster> to agent id and host <cluster>).
 * @param explicitID the agent id given by flag or env, '' when drawn at random
 */
export function checkAgentCerts(c: AgentConfig, explicitID: string): void {
  const s = c.certs;
  requireFile('meta-kubeconfig', s?.metaKubeconfig ?? '');
  requireFile('bootstrap-token-path', s?.bootstrapTokenPath ?? '');
  if (!s || s.source !== 'csr') return;
  if (c.agentCert !== '') throw new UsageError('--agent-cert cannot be combined with --cert-source=csr: the agent\'s certificate comes from the CSR API');
  if (s.certDir === '') throw new UsageError('--cert-source=csr needs --cert-dir: a writable directory for the agent\'s key and certificate');
  if (s.bootstrapTokenPath === '') throw new UsageError('--cert-source=csr needs --bootstrap-token-path: the token of the meta-cluster ServiceAccount tunnel-bootstrap-<cluster>');
  if (c.caCert === '') throw new UsageError('--cert-source=csr needs --ca-cert: the tunnel CA bundle (ca.crt of the bootstrap Secret)');
  const hosts = parseIdentifiers(c.agentIdentifiers, false).host;
  const cluster = c.clusterName || hosts[0] || explicitID;
  if (cluster === '') {
    throw new UsageError('--cert-source=csr needs the cluster name: set --cluster-name (or host= in --agent-identifiers, or --agent-id)');
  }
  if (!CLUSTER_RE.test(cluster)) {
    throw new UsageError(`invalid cluster name "${cluster}" for --cert-source=csr: lower-case letters, digits, '-' and '.' (it becomes CN=tunnel-agent:${cluster})`);
  }
  if (explicitID !== '' && explicitID !== cluster) {
    throw new UsageError(
      `--agent-id "${explicitID}" differs from the cluster name "${cluster}": with --cert-source=csr the server lets the certificate CN=tunnel-agent:${cluster} use agent id "${cluster}" only`,
    );
  }
  const other = hosts.find((h) => h !== cluster);
  if (other !== undefined) {
    throw new UsageError(`--agent-identifiers host=${other} is not the cluster name "${cluster}": with --cert-source=csr the certificate allows host=${cluster} only`);
  }
  c.agentID = cluster;
  c.clusterName = cluster;
}

/** Upstream's rule: a kubeconfig, or running in a pod. */
export function requireKube(kubeconfig: string, env: NodeJS.ProcessEnv, why: string): void {
  const inCluster = Boolean(env['KUBERNETES_SERVICE_HOST']) && Boolean(env['KUBERNETES_SERVICE_PORT']);
  if (kubeconfig === '' && !inCluster) {
    throw new UsageError(`${why}: set --kubeconfig, or run in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set)`);
  }
}

function certSource(values: FlagValues): 'files' | 'csr' {
  const v = values.string('cert-source') ?? 'files';
  checkOneOf('cert-source', v, ['files', 'csr']);
  return v as 'files' | 'csr';
}

/** --cert-lifetime: at least 10m, or 1s with env TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1 (tests of rotation). */
function lifetime(values: FlagValues, env: NodeJS.ProcessEnv): number {
  const ms = values.duration('cert-lifetime') ?? DEFAULT_CERT_LIFETIME_MS;
  const short = env[SHORT_CERT_LIFETIME_ENV] === '1';
  const min = short ? SHORT_CERT_LIFETIME_MS : MIN_CERT_LIFETIME_MS;
  if (ms < min) {
    const hint = short ? 'must be at least 1s' : 'must be at least 10m';
    throw new UsageError(`invalid value "${values.string('cert-lifetime')}" for --cert-lifetime: ${hint}`);
  }
  return ms;
}

/** --ca-reload-interval: at least 1s. */
function caReload(values: FlagValues): number {
  const ms = values.duration('ca-reload-interval') ?? DEFAULT_CA_RELOAD_MS;
  if (ms < 1_000) throw new UsageError(`invalid value "${values.string('ca-reload-interval')}" for --ca-reload-interval: must be at least 1s`);
  return ms;
}

function checkName(flag: string, v: string): void {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v)) throw new UsageError(`invalid value "${v}" for --${flag}: expected a Kubernetes name (lower-case letters, digits and '-')`);
}
