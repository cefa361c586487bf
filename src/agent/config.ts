/**
 * Everything the agent needs, as plain data. The CLI (src/cli) fills it from
 * upstream proxy-agent flags; tests build it directly. Durations are in
 * milliseconds. Defaults live in ./defaults.ts.
 */

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

  /** /healthz, /readyz, /metrics. -1 = disabled. */
  healthServerHost: string;
  healthServerPort: number;
  /** /metrics redirect and JSON admin view. -1 = disabled. */
  adminBindAddress: string;
  adminServerPort: number;

  /** Allow port 0 (ephemeral) for tests and the demo. */
  allowEphemeralPorts?: boolean;
}
