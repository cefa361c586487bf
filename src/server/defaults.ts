/**
 * Defaults of every server option: upstream proxy-server flag defaults, in
 * the units of ServerConfig (milliseconds). The CLI starts from these; tests
 * build configs with `defaultServerConfig({ ...overrides })`. Internal bounds
 * that are not flags live in ./limits.ts.
 */
import { randomUUID } from 'node:crypto';
import type { ServerConfig } from './config.js';

/** Upstream proxy-server defaults. `serverID` is empty here: each config gets its own (see defaultServerConfig). */
export const SERVER_DEFAULTS: Readonly<ServerConfig> = Object.freeze({
  serverID: '',
  serverCount: 1,
  enableLeaseController: false,
  leaseNamespace: 'kube-system',
  leaseLabels: Object.freeze({ 'k8s-app': 'konnectivity-server' }) as Record<string, string>,

  udsName: '',
  deleteExistingUdsFile: true,
  serverPort: 8090,
  serverBindAddress: '',
  serverCert: '',
  serverKey: '',
  serverCaCert: '',

  agentPort: 8091,
  agentBindAddress: '',
  clusterCert: '',
  clusterKey: '',
  clusterCaCert: '',
  bindAgentIdToCn: false,

  healthPort: 8092,
  healthBindAddress: '',
  adminPort: 8095,
  adminBindAddress: '127.0.0.1',

  proxyStrategies: ['default'],
  mode: 'grpc',

  keepaliveTimeMs: 3_600_000,
  frontendKeepaliveTimeMs: 3_600_000,
  backendDialTimeoutMs: 0,
  gracefulShutdownTimeoutMs: 0,
  xfrChannelSize: 10,

  tlsMinVersion: 'TLSv1.2',
  cipherSuites: [],

  agentNamespace: '',
  agentServiceAccount: '',
  authenticationAudience: '',
  kubeconfig: '',
} satisfies ServerConfig);

/**
 * A complete config: the defaults with `overrides` applied. Arrays and
 * label maps are copied, never shared; `serverID` is a fresh random UUID unless given
 * (upstream: env PROXY_SERVER_ID, else a UUID; the CLI reads the env).
 */
export function defaultServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    ...SERVER_DEFAULTS,
    serverID: randomUUID(),
    proxyStrategies: [...SERVER_DEFAULTS.proxyStrategies],
    cipherSuites: [...SERVER_DEFAULTS.cipherSuites],
    leaseLabels: { ...SERVER_DEFAULTS.leaseLabels },
    ...overrides,
  };
}
