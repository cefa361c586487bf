/**
 * `tunnel --mode=agent`: proxy-agent flags → AgentConfig, with upstream's
 * validation rules (and a few of ours, each saying which flag to fix).
 */
import { randomUUID } from 'node:crypto';
import type { AgentConfig } from '../agent/config.js';
import { parseDialAliases } from '../agent/dial-alias.js';
import { defaultAgentConfig } from '../agent/defaults.js';
import { parseIdentifiers } from '../protocol/identifiers.js';
import { agentCertSettingsFromFlags, checkAgentCerts } from './cert-flags.js';
import type { FlagValues } from './flag-values.js';
import { hookSettingsFromFlags } from './hook-flags.js';
import {
  checkAtLeast,
  checkLabelSelector,
  checkOneOf,
  checkPort,
  requireFile,
  requirePair,
  type PortRule,
} from './option-checks.js';
import { agentPullFromFlags } from './pull-options.js';
import type { OptionReport } from './server-options.js';
import { formatGoDuration } from './go-values.js';
import { UsageError } from './usage-error.js';

/** Upstream's server enforcement policy refuses pings more often than this. */
const SERVER_MIN_PING_MS = 30_000;

export const SERVER_COUNT_SOURCES: readonly string[] = ['', 'default', 'max'];

/** Builds the agent config. */
export function agentConfigFromFlags(values: FlagValues, env: NodeJS.ProcessEnv, report: OptionReport): AgentConfig {
  const d = defaultAgentConfig();
  const str = (name: string, dflt: string): string => values.string(name) ?? dflt;
  const eph = env['TUNNEL_ALLOW_EPHEMERAL_PORTS'] === '1';

  const c: AgentConfig = {
    ...d,
    agentID: values.string('agent-id') || env['PROXY_AGENT_ID'] || randomUUID(),
    agentIdentifiers: str('agent-identifiers', d.agentIdentifiers),
    proxyServerHost: str('proxy-server-host', d.proxyServerHost),
    proxyServerPort: values.int('proxy-server-port') ?? d.proxyServerPort,
    caCert: str('ca-cert', d.caCert),
    agentCert: str('agent-cert', d.agentCert),
    agentKey: str('agent-key', d.agentKey),
    serviceAccountTokenPath: str('service-account-token-path', d.serviceAccountTokenPath),
    alpnProto: values.list('alpn-proto') ?? d.alpnProto,
    syncIntervalMs: values.duration('sync-interval') ?? d.syncIntervalMs,
    syncIntervalCapMs: values.duration('sync-interval-cap') ?? d.syncIntervalCapMs,
    probeIntervalMs: values.duration('probe-interval') ?? d.probeIntervalMs,
    syncForever: values.bool('sync-forever') ?? d.syncForever,
    keepaliveTimeMs: values.duration('keepalive-time') ?? d.keepaliveTimeMs,
    xfrChannelSize: values.int('xfr-channel-size') ?? d.xfrChannelSize,
    healthServerHost: str('health-server-host', d.healthServerHost),
    healthServerPort: values.int('health-server-port') ?? d.healthServerPort,
    adminBindAddress: str('admin-bind-address', d.adminBindAddress),
    adminServerPort: values.int('admin-server-port') ?? d.adminServerPort,
    dialAliases: dialAliases(values.list('dial-alias')) ?? d.dialAliases,
    countServerLeases: values.bool('count-server-leases') ?? d.countServerLeases,
    leaseNamespace: str('lease-namespace', d.leaseNamespace),
    // --lease-label is the older name of --lease-label-selector.
    leaseLabelSelector: values.string('lease-label-selector') ?? values.string('lease-label') ?? d.leaseLabelSelector,
    serverCountSource: values.string('server-count-source') === 'max' ? 'max' : d.serverCountSource,
    kubeconfig: str('kubeconfig', d.kubeconfig),
    allowEphemeralPorts: eph,
    clusterName: str('cluster-name', ''),
    certs: agentCertSettingsFromFlags(values, env),
    hooks: hookSettingsFromFlags(values, 'agent'),
    pull: agentPullFromFlags(values, eph),
  };

  checkConnection(c, report);
  checkFiles(c);
  checkSync(c);
  checkEndpoints(c, eph);
  checkNotYetValues(values);
  checkAgentCerts(c, values.string('agent-id') || env['PROXY_AGENT_ID'] || '');
  return c;
}

function checkConnection(c: AgentConfig, report: OptionReport): void {
  if (c.proxyServerHost.trim() === '') throw new UsageError('--proxy-server-host cannot be empty');
  checkPort('proxy-server-port', c.proxyServerPort, { min: 1, max: 65535, allowZero: false });
  try {
    parseIdentifiers(c.agentIdentifiers, true);
  } catch (e) {
    throw new UsageError(`invalid value "${c.agentIdentifiers}" for --agent-identifiers: ${(e as Error).message}`);
  }
  checkAtLeast('xfr-channel-size', c.xfrChannelSize, 1);
  if (c.keepaliveTimeMs > 0 && c.keepaliveTimeMs < SERVER_MIN_PING_MS) {
    report.warnings.push(
      `--keepalive-time=${formatGoDuration(c.keepaliveTimeMs)} is under 30s: servers enforcing upstream's ping policy will close the connection`,
    );
  }
}

function checkFiles(c: AgentConfig): void {
  requirePair('agent-cert', c.agentCert, 'agent-key', c.agentKey);
  requireFile('ca-cert', c.caCert);
  requireFile('agent-cert', c.agentCert);
  requireFile('agent-key', c.agentKey);
  requireFile('service-account-token-path', c.serviceAccountTokenPath);
}

function checkSync(c: AgentConfig): void {
  for (const [flag, ms] of [
    ['sync-interval', c.syncIntervalMs],
    ['sync-interval-cap', c.syncIntervalCapMs],
    ['probe-interval', c.probeIntervalMs],
  ] as const) {
    if (ms <= 0) throw new UsageError(`invalid value "${formatGoDuration(ms)}" for --${flag}: must be greater than 0`);
  }
  if (c.syncIntervalMs > c.syncIntervalCapMs) {
    throw new UsageError(
      `--sync-interval (${formatGoDuration(c.syncIntervalMs)}) must not be greater than --sync-interval-cap (${formatGoDuration(c.syncIntervalCapMs)})`,
    );
  }
}

function checkEndpoints(c: AgentConfig, eph: boolean): void {
  const rule: PortRule = { min: 1, max: 65535, allowZero: eph };
  checkPort('health-server-port', c.healthServerPort, rule);
  checkPort('admin-server-port', c.adminServerPort, rule);
}

function dialAliases(entries: string[] | undefined): Record<string, string> | undefined {
  if (entries === undefined) return undefined;
  try {
    return parseDialAliases(entries);
  } catch (e) {
    throw new UsageError(`invalid value for --dial-alias: ${(e as Error).message}; expected name=host, e.g. cluster-a=kubernetes.default.svc`);
  }
}

/** Values checked before use (and of flags without effect yet, so a manifest error shows today). */
function checkNotYetValues(values: FlagValues): void {
  const source = values.string('server-count-source');
  if (source !== undefined) checkOneOf('server-count-source', source, SERVER_COUNT_SOURCES);
  for (const flag of ['lease-label-selector', 'lease-label']) {
    const sel = values.string(flag);
    if (sel !== undefined) checkLabelSelector(flag, sel);
  }
  requireFile('kubeconfig', values.string('kubeconfig') ?? '');
  if (values.bool('enable-contention-profiling') === true && values.bool('enable-profiling') !== true) {
    throw new UsageError('--enable-contention-profiling needs --enable-profiling');
  }
}
