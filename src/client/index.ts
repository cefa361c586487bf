/**
 * The konnectivity client library: dial through a tunnel server from
 * Node.js, with the semantics of upstream's Go konnectivity-client.
 *
 * A Tunnel holds one HTTP/2 connection (gRPC over node:http2 by default, or
 * a grpc-js channel) and opens one Proxy stream per dial; each stream is
 * single use (one dial, one connection), as the protocol requires.
 */
export { createTunnel, Tunnel } from './tunnel.js';
export { TunnelSocket } from './tunnel-socket.js';
export { DialError, TunnelError } from './errors.js';
export type { DialErrorCode, DialFailureReason, TunnelErrorCode } from './errors.js';
export type {
  ClientTimers,
  DialOptions,
  TunnelBehaviour,
  TunnelEndpoint,
  TunnelOptions,
  TunnelTlsOptions,
} from './options.js';
export { createHttpAgent, createHttpsAgent } from './http-agent.js';
export type { TunnelAgentExtras, TunnelDialer, TunnelHttpAgentOptions, TunnelHttpsAgentOptions } from './http-agent.js';
export { kubeConfigThroughTunnel, TunnelKubeConfig } from './kube.js';
export type { KubeThroughTunnelOptions } from './kube.js';
export { CLOSE_TIMEOUT_MS, DIAL_TIMEOUT_MS, MAX_DATA_CHUNK } from './defaults.js';
