/**
 * Everything the server needs, as plain data. The CLI (src/cli) fills it from
 * upstream proxy-server flags; tests build it directly. Durations are in
 * milliseconds. Defaults live in ./defaults.ts.
 */
import type { PullServerConfig } from './pull/config.js';

import type { HookSettings } from '../hooks/settings.js';
import type { ServerCertSettings } from './cert-settings.js';

export type ProxyStrategy = 'default' | 'destHost' | 'defaultRoute';

export interface ServerConfig {
  /** Sent to agents in the `serverid` header. */
  serverID: string;
  /**
   * Sent to agents in the `servercount` header. With enableLeaseController
   * the header carries the number of live Leases instead, and this is only
   * the count used until one is known.
   */
  serverCount: number;
  /**
   * Upstream --enable-lease-controller: hold Lease
   * `konnectivity-proxy-server-<serverID>` in leaseNamespace (renewed every
   * 15 s, 30 s duration), delete expired Leases with leaseLabels every 15 s,
   * and send the number of live ones as `servercount`. Reaches Kubernetes
   * through `kubeconfig`, else the in-cluster configuration.
   */
  enableLeaseController: boolean;
  /** Namespace of the replicas' Leases (--lease-namespace). */
  leaseNamespace: string;
  /** Labels of this replica's Lease, and the selector of the ones collected (--lease-label). */
  leaseLabels: Record<string, string>;

  /** Frontend (ProxyService and HTTP CONNECT) on a Unix socket; '' = none. */
  udsName: string;
  deleteExistingUdsFile: boolean;
  /** Frontend on TCP with mTLS; 0 = none (with udsName) or an ephemeral port when `allowEphemeralPorts`. */
  serverPort: number;
  /**
   * Whether the TCP frontend is served; the CLI always sets it. With udsName,
   * the CLI turns TCP on only when --server-port is given explicitly: non-zero,
   * or 0 under allowEphemeralPorts together with --server-cert (a Unix socket
   * plus an ephemeral mTLS port, as the demo and tests run it).
   * Undefined: serverPort > 0, or serverPort 0 without udsName under
   * allowEphemeralPorts.
   */
  tcpFrontend?: boolean;
  serverBindAddress: string;
  serverCert: string;
  serverKey: string;
  /** Required for the TCP frontend: clients must present a certificate signed by it. */
  serverCaCert: string;

  /** AgentService (always TLS). */
  agentPort: number;
  agentBindAddress: string;
  clusterCert: string;
  clusterKey: string;
  /** When set, agents must present a client certificate signed by it. */
  clusterCaCert: string;
  /** Bind every client certificate's CN: it may announce only that agent id and host= (tunnel-form CNs are always bound). */
  bindAgentIdToCn: boolean;

  /** /healthz, /readyz, /metrics. -1 = disabled. */
  healthPort: number;
  healthBindAddress: string;
  /** /metrics and the JSON admin view, on 127.0.0.1 by default. -1 = disabled. */
  adminPort: number;
  adminBindAddress: string;

  /** Tried in order; "not found" falls through to the next. */
  proxyStrategies: ProxyStrategy[];
  /** 'grpc' | 'http-connect': accepted for compatibility; both protocols are always served. */
  mode: 'grpc' | 'http-connect';

  /** Server keepalive ping interval on the agent listener / frontend. */
  keepaliveTimeMs: number;
  frontendKeepaliveTimeMs: number;
  /** 0 = off. A DIAL_RSP missing past it fails the dial ("timed out waiting for backend dial"). */
  backendDialTimeoutMs: number;
  /** 0 = close at once on stop. */
  gracefulShutdownTimeoutMs: number;
  /** Packets queued per connection before backpressure applies. */
  xfrChannelSize: number;

  /** 'TLSv1.2' | 'TLSv1.3' (Node names; the CLI maps VersionTLS12 etc.). */
  tlsMinVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list names; empty = Node defaults. */
  cipherSuites: string[];

  /** Token authentication of agents (TokenReview); all empty = off. */
  agentNamespace: string;
  agentServiceAccount: string;
  authenticationAudience: string;
  /** Kubeconfig of the meta cluster (token reviews, Leases); '' = in-cluster configuration. */
  kubeconfig: string;

  /** Allow port 0 (ephemeral) for tests and the demo. */
  allowEphemeralPorts?: boolean;

  /** --cert-source and the csr flags; unset = files (the TLS flags above, followed on disk). */
  certs?: ServerCertSettings;
  /** --hook-*; unset = no hooks. */
  hooks?: HookSettings;

  /**
   * HTTP CONNECT frontend: the request line and headers must arrive within
   * this time, else 408 and close (upstream ReadHeaderTimeout). Default
   * 60000 (limits.ts DEFAULT_HTTP_CONNECT_HEADER_TIMEOUT_MS).
   */
  httpConnectHeaderTimeoutMs?: number;

  /** Pull mode: named targets and who may pull them. Default: defaultPullServerConfig() (every authenticated agent may reach `kubernetes`, which has no address unless configured). */
  pull?: PullServerConfig;
}
