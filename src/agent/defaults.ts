/**
 * Defaults of every agent option (upstream proxy-agent flag defaults) and all
 * timing constants of the agent role, in one place.
 */
import type { AgentConfig } from './config.js';

/** Upstream proxy-agent defaults, in the units of AgentConfig (milliseconds). */
export const AGENT_DEFAULTS: Readonly<AgentConfig> = Object.freeze({
  /** Empty: the agent draws a random UUID at start (upstream: env PROXY_AGENT_ID, else a UUID). */
  agentID: '',
  agentIdentifiers: '',
  proxyServerHost: '127.0.0.1',
  proxyServerPort: 8091,
  caCert: '',
  agentCert: '',
  agentKey: '',
  serviceAccountTokenPath: '',
  alpnProto: [],
  syncIntervalMs: 1_000,
  syncIntervalCapMs: 10_000,
  probeIntervalMs: 1_000,
  syncForever: false,
  keepaliveTimeMs: 3_600_000,
  xfrChannelSize: 150,
  dialTimeoutMs: 5_000,
  dialAliases: Object.freeze({}) as Record<string, string>,
  countServerLeases: false,
  leaseNamespace: 'kube-system',
  leaseLabelSelector: 'k8s-app=konnectivity-server',
  serverCountSource: 'default',
  kubeconfig: '',
  healthServerHost: '',
  healthServerPort: 8093,
  adminBindAddress: '127.0.0.1',
  adminServerPort: 8094,
});

/** A complete config: the defaults with `overrides` applied (arrays and maps copied, never shared). */
export function defaultAgentConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return { ...AGENT_DEFAULTS, alpnProto: [...AGENT_DEFAULTS.alpnProto], dialAliases: {}, ...overrides };
}

/** Timing constants of the agent that are not flags. */
export const TIMING = Object.freeze({
  /** Jitter of the sync interval: a wait of d lasts between d and d × 1.1 (upstream: 10 %). */
  syncJitter: 0.1,
  /** Growth of the sync interval after a failed attempt, up to syncIntervalCapMs (upstream: 1.5). */
  syncBackoffFactor: 1.5,
  /** A server that accepted TCP/TLS but sends no `serverid`/`servercount` headers within this is given up. */
  handshakeTimeoutMs: 30_000,
  /**
   * A connection whose endpoint does not take the server's data, with its queue over the bound
   * (limits.ts) for this long, is closed alone with a CLOSE_RSP error.
   */
  endpointStallTimeoutMs: 30_000,
  /** After CLOSE_REQ the endpoint socket gets this long to take queued bytes and close; then it is destroyed. */
  closeLingerMs: 5_000,
  /** A dial still unanswered this long after the dial timeout is failed by the agent itself. */
  dialGuardGraceMs: 1_000,
  /** TCP keepalive on endpoint sockets (Go's net.Dialer default). */
  endpointKeepaliveMs: 15_000,
  /** With countServerLeases, the server Leases are listed this often (upstream watches them with an informer). */
  leaseListIntervalMs: 5_000,
});
