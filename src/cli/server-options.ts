/**
 * `tunnel --mode=server`: proxy-server flags → ServerConfig, with upstream's
 * validation rules (and a few of ours, each saying which flag to fix).
 */
import { randomUUID } from 'node:crypto';
import type { ProxyStrategy, ServerConfig } from '../server/config.js';
import { defaultServerConfig } from '../server/defaults.js';
import { parseLabels } from '../server/ha/defaults.js';
import { checkServerCerts, serverCertSettingsFromFlags } from './cert-flags.js';
import type { FlagValues } from './flag-values.js';
import { hookSettingsFromFlags } from './hook-flags.js';
import {
  checkAtLeast,
  checkLabels,
  checkPort,
  requireFile,
  requirePair,
  type PortRule,
} from './option-checks.js';
import { serverPullFromFlags } from './pull-options.js';
import { closest } from './suggest.js';
import { parseCipherSuites, parseTlsMinVersion } from './tls-values.js';
import { UsageError } from './usage-error.js';

export const PROXY_STRATEGIES: readonly ProxyStrategy[] = ['default', 'destHost', 'defaultRoute'];

/** What the options produce besides the config: lines main.ts logs at start. */
export interface OptionReport {
  warnings: string[];
  notices: string[];
}

/**
 * Builds the server config.
 * @param mode the --mode value: server, grpc or http-connect
 */
export function serverConfigFromFlags(
  values: FlagValues,
  mode: string,
  env: NodeJS.ProcessEnv,
  report: OptionReport,
): ServerConfig {
  const d = defaultServerConfig();
  const str = (name: string, dflt: string): string => values.string(name) ?? dflt;
  const eph = env['TUNNEL_ALLOW_EPHEMERAL_PORTS'] === '1';

  const c: ServerConfig = {
    ...d,
    serverID: values.string('server-id') || env['PROXY_SERVER_ID'] || randomUUID(),
    serverCount: values.int('server-count') ?? d.serverCount,
    enableLeaseController: values.bool('enable-lease-controller') ?? d.enableLeaseController,
    leaseNamespace: str('lease-namespace', d.leaseNamespace),
    leaseLabels: leaseLabels(values.string('lease-label')) ?? d.leaseLabels,
    udsName: str('uds-name', d.udsName),
    deleteExistingUdsFile: values.bool('delete-existing-uds-file') ?? d.deleteExistingUdsFile,
    serverPort: values.int('server-port') ?? d.serverPort,
    serverBindAddress: str('server-bind-address', d.serverBindAddress),
    serverCert: str('server-cert', d.serverCert),
    serverKey: str('server-key', d.serverKey),
    serverCaCert: str('server-ca-cert', d.serverCaCert),
    agentPort: values.int('agent-port') ?? d.agentPort,
    agentBindAddress: str('agent-bind-address', d.agentBindAddress),
    clusterCert: str('cluster-cert', d.clusterCert),
    clusterKey: str('cluster-key', d.clusterKey),
    clusterCaCert: str('cluster-ca-cert', d.clusterCaCert),
    bindAgentIdToCn: values.bool('bind-agent-id-to-cn') ?? d.bindAgentIdToCn,
    healthPort: values.int('health-port') ?? d.healthPort,
    healthBindAddress: str('health-bind-address', d.healthBindAddress),
    adminPort: values.int('admin-port') ?? d.adminPort,
    adminBindAddress: str('admin-bind-address', d.adminBindAddress),
    proxyStrategies: proxyStrategies(values.string('proxy-strategies')) ?? d.proxyStrategies,
    mode: mode === 'http-connect' ? 'http-connect' : 'grpc',
    keepaliveTimeMs: values.duration('keepalive-time') ?? d.keepaliveTimeMs,
    frontendKeepaliveTimeMs: values.duration('frontend-keepalive-time') ?? d.frontendKeepaliveTimeMs,
    backendDialTimeoutMs: values.duration('backend-dial-timeout') ?? d.backendDialTimeoutMs,
    gracefulShutdownTimeoutMs: values.duration('graceful-shutdown-timeout') ?? d.gracefulShutdownTimeoutMs,
    xfrChannelSize: values.int('xfr-channel-size') ?? d.xfrChannelSize,
    tlsMinVersion: tlsMinVersion(values.string('tls-min-version'), report) ?? d.tlsMinVersion,
    cipherSuites: cipherSuites(values.list('cipher-suites')) ?? d.cipherSuites,
    agentNamespace: str('agent-namespace', d.agentNamespace),
    agentServiceAccount: str('agent-service-account', d.agentServiceAccount),
    authenticationAudience: str('authentication-audience', d.authenticationAudience),
    kubeconfig: str('kubeconfig', d.kubeconfig),
    allowEphemeralPorts: eph,
    certs: serverCertSettingsFromFlags(values, env),
    hooks: hookSettingsFromFlags(values, 'server'),
    pull: serverPullFromFlags(values, env),
  };
  if (mode === 'grpc' || mode === 'http-connect') {
    report.notices.push(
      `--mode=${mode} means --mode=server: the frontend always serves both gRPC and HTTP CONNECT, told apart by their first bytes`,
    );
  }

  checkFrontend(c, values, eph, report);
  checkAgentListener(c, eph);
  checkTokenAuth(c, env);
  checkServerCerts(c, env);
  checkTuning(c, values);
  return c;
}

/** --uds-name / --server-port and the frontend certificates. */
function checkFrontend(c: ServerConfig, values: FlagValues, eph: boolean, report: OptionReport): void {
  const rule: PortRule = { min: 1024, max: 49151, allowZero: eph };
  requirePair('server-cert', c.serverCert, 'server-key', c.serverKey);
  if (c.udsName === '') {
    checkPort('server-port', c.serverPort, rule);
    c.tcpFrontend = true;
  } else if (!values.has('server-port')) {
    // Upstream: --server-port must be 0 with --uds-name; not giving it means UDS only.
    c.serverPort = 0;
    c.tcpFrontend = false;
  } else if (c.serverPort === 0) {
    // Upstream manifests pass --server-port=0 with --uds-name: UDS only. Tests and the
    // demo (ephemeral ports) ask for a Unix socket plus an ephemeral mTLS port this way.
    c.tcpFrontend = eph && c.serverCert !== '';
  } else {
    // Beyond upstream: both were asked for explicitly, both are served.
    checkPort('server-port', c.serverPort, rule);
    c.tcpFrontend = true;
  }
  if (c.tcpFrontend && c.certs?.source !== 'csr') {
    const where = `the TCP frontend (--server-port=${c.serverPort})`;
    if (c.serverCert === '') {
      throw new UsageError(`${where} uses mTLS: set --server-cert and --server-key, or serve only a Unix socket with --uds-name`);
    }
    if (c.serverCaCert === '') {
      throw new UsageError(
        `--server-ca-cert is required with ${where}: since v0.35.0 frontend clients must present a certificate; or serve only a Unix socket with --uds-name`,
      );
    }
  } else if (!c.tcpFrontend) {
    for (const flag of ['server-cert', 'server-key', 'server-ca-cert']) {
      if (values.string(flag)) {
        report.warnings.push(`flag --${flag} has no effect: the TCP frontend is off (--uds-name with --server-port=0 or not given)`);
      }
    }
  }
  for (const flag of ['server-cert', 'server-key', 'server-ca-cert'] as const) requireFile(flag, values.string(flag) ?? '');
}

/** Agent port, health and admin ports, agent TLS. */
function checkAgentListener(c: ServerConfig, eph: boolean): void {
  const rule: PortRule = { min: 1024, max: 49151, allowZero: eph };
  checkPort('agent-port', c.agentPort, rule);
  checkPort('health-port', c.healthPort, rule);
  checkPort('admin-port', c.adminPort, rule);
  requirePair('cluster-cert', c.clusterCert, 'cluster-key', c.clusterKey);
  // csr mode: the certificate comes from the CSR API (cert-flags.ts checks it).
  if (c.clusterCert === '' && c.certs?.source !== 'csr') {
    throw new UsageError('--cluster-cert and --cluster-key are required: the agent listener (--agent-port) always uses TLS');
  }
  requireFile('cluster-cert', c.clusterCert);
  requireFile('cluster-key', c.clusterKey);
  requireFile('cluster-ca-cert', c.clusterCaCert);
}

/** Upstream's token authentication rules; and --bind-agent-id-to-cn needs client certificates to bind. */
function checkTokenAuth(c: ServerConfig, env: NodeJS.ProcessEnv): void {
  requireFile('kubeconfig', c.kubeconfig);
  if (c.bindAgentIdToCn && c.clusterCaCert === '' && c.certs?.source !== 'csr') {
    throw new UsageError(
      '--bind-agent-id-to-cn binds agents to their client certificates, but none are asked for: set --cluster-ca-cert (or use --cert-source=csr)',
    );
  }
  const on = c.agentNamespace !== '' || c.agentServiceAccount !== '' || c.authenticationAudience !== '';
  if (!on) return;
  const flags = '--agent-namespace, --agent-service-account and --authentication-audience';
  if (c.clusterCaCert !== '' && c.certs?.source !== 'csr') {
    throw new UsageError(`--cluster-ca-cert cannot be combined with token authentication of agents (${flags})`);
  }
  for (const [flag, v] of [
    ['agent-namespace', c.agentNamespace],
    ['agent-service-account', c.agentServiceAccount],
    ['authentication-audience', c.authenticationAudience],
  ] as const) {
    if (v === '') throw new UsageError(`--${flag} is required for token authentication of agents (${flags} go together)`);
  }
  const inCluster = Boolean(env['KUBERNETES_SERVICE_HOST']) && Boolean(env['KUBERNETES_SERVICE_PORT']);
  if (c.kubeconfig === '' && !inCluster) {
    throw new UsageError(
      'token authentication of agents (--agent-namespace) reviews tokens with the Kubernetes API: set --kubeconfig, or run in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set)',
    );
  }
}

/** Counts, sizes and the flags that only need their values checked. */
function checkTuning(c: ServerConfig, values: FlagValues): void {
  checkAtLeast('server-count', c.serverCount, 1);
  checkAtLeast('xfr-channel-size', c.xfrChannelSize, 1);
  const fw = values.int('frontend-write-channel-size');
  if (fw !== undefined) checkAtLeast('frontend-write-channel-size', fw, 1);
  const qps = values.float('kubeconfig-qps');
  if (qps !== undefined && qps < 0) throw new UsageError(`invalid value "${qps}" for --kubeconfig-qps: must not be negative`);
  const burst = values.int('kubeconfig-burst');
  if (burst !== undefined) checkAtLeast('kubeconfig-burst', burst, 0);
  if (values.bool('enable-contention-profiling') === true && values.bool('enable-profiling') !== true) {
    throw new UsageError('--enable-contention-profiling needs --enable-profiling');
  }
  const label = values.string('lease-label');
  if (label !== undefined) checkLabels('lease-label', label);
}

function leaseLabels(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  checkLabels('lease-label', text);
  return parseLabels(text);
}

function proxyStrategies(text: string | undefined): ProxyStrategy[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) {
    throw new UsageError(`--proxy-strategies cannot be empty: expected a comma-separated list of ${PROXY_STRATEGIES.join(', ')}`);
  }
  const out: ProxyStrategy[] = [];
  for (const name of names) {
    if (!(PROXY_STRATEGIES as readonly string[]).includes(name)) {
      const near = PROXY_STRATEGIES.find((s) => s.toLowerCase() === name.toLowerCase()) ?? closest(name, PROXY_STRATEGIES);
      throw new UsageError(
        `invalid value "${text}" for --proxy-strategies: unknown strategy "${name}"${near ? ` (did you mean ${near}?)` : ''}; expected ${PROXY_STRATEGIES.join(', ')}`,
      );
    }
    if (!out.includes(name as ProxyStrategy)) out.push(name as ProxyStrategy);
  }
  return out;
}

function tlsMinVersion(text: string | undefined, report: OptionReport): ServerConfig['tlsMinVersion'] | undefined {
  if (text === undefined) return undefined;
  let v: ServerConfig['tlsMinVersion'];
  try {
    v = parseTlsMinVersion(text);
  } catch (e) {
    throw new UsageError(`invalid value "${text}" for --tls-min-version: ${(e as Error).message}`);
  }
  if (v === 'TLSv1' || v === 'TLSv1.1') {
    report.warnings.push(`--tls-min-version=${text} is below TLS 1.2 and considered insecure (RFC 8996)`);
  }
  return v;
}

function cipherSuites(names: string[] | undefined): string[] | undefined {
  if (names === undefined) return undefined;
  try {
    return parseCipherSuites(names);
  } catch (e) {
    throw new UsageError(`invalid --cipher-suites: ${(e as Error).message}`);
  }
}
