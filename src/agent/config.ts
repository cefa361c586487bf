/**
 * Everything the agent needs, as plain data. The CLI (src/cli) fills it from
 * upstream proxy-agent flags; tests build it directly. Durations are in
 * milliseconds. Defaults live in ./defaults.ts.
 */
import type { AgentPullConfig } from './pull/config.js';

import type { HookSettings } from '../hooks/settings.js';
import type { AgentCertSettings } from './cert-settings.js';

export interface AgentConfig {
  /** Sent as `agentid` metadata. */
  agentID: string;
  /** URL query string sent as `agentidentifiers` (validated at start). */
  agentIdentifiers: string;

  proxyServerHost: string;
  proxyServerPort: number;
  /** CA bundle that signs the server's agent-port certificate. '' = system roots. */
  caCert: string;
  /** Client certificate for mTLS (both or neither). */
  agentCert: string;
  agentKey: string;
  /** ServiceAccount token file, re-read on every connect; sent as `authorization: Bearer`. */
  serviceAccountTokenPath: string;
  /** Extra ALPN protocol names. */
  alpnProto: string[];

  syncIntervalMs: number;
  syncIntervalCapMs: number;
  probeIntervalMs: number;
  syncForever: boolean;
  keepaliveTimeMs: number;
  /** Packets queued per connection before backpressure applies. */
  xfrChannelSize: number;
  /** Endpoint dial timeout (upstream: a 5 s constant). */
  dialTimeoutMs: number;
  /**
   * Beyond upstream: host aliases for endpoint dials. A dial to `name:port`
   * whose host is a key here goes to `<value>:port` instead, e.g.
   * `{ 'cluster-a': 'kubernetes.default.svc' }` so that the meta cluster
   * reaches this cluster's apiserver as `cluster-a:443`. Empty = none.
   */
  dialAliases: Record<string, string>;

  /**
   * Upstream --count-server-leases: the server count comes from the live
   * Leases matching leaseLabelSelector in leaseNamespace (see
   * serverCountSource), read through `kubeconfig` or the in-cluster
   * configuration.
   */
  countServerLeases: boolean;
  leaseNamespace: string;
  leaseLabelSelector: string;
  /**
   * default: the Lease count when countServerLeases is on, else the
   * `servercount` header; max: the larger of both. At least 1.
   */
  serverCountSource: 'default' | 'max';
  /** Kubeconfig for reading Leases; '' = in-cluster configuration. */
  kubeconfig: string;

  /** /healthz, /readyz, /metrics. -1 = disabled. */
  healthServerHost: string;
  healthServerPort: number;
  /** /metrics redirect and JSON admin view. -1 = disabled. */
  adminBindAddress: string;
  adminServerPort: number;

  /** Allow port 0 (ephemeral) for tests and the demo. */
  allowEphemeralPorts?: boolean;

  /** --cluster-name; unset or '' = the host= identifier, else the agent id (cluster-name.ts). */
  clusterName?: string;
  /** --cert-source and the csr flags; unset = files (--agent-cert/--agent-key/--ca-cert, followed on disk). */
  certs?: AgentCertSettings;
  /** --hook-*; unset = no hooks. */
  hooks?: HookSettings;

  /** Pull mode: local listeners and the meta-cluster KubeConfig defaults. Default: defaultAgentPullConfig() (no listeners). */
  pull?: AgentPullConfig;
}
