/** The tunnel server role: `new TunnelServer(config, deps).start()`. */
export { TunnelServer, type ServerAddresses, type ServerDeps, type ServerStats } from './tunnel-server.js';
export type { ServerConfig, ProxyStrategy } from './config.js';
export { ServerError, type ServerErrorCode } from './errors.js';
export { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
export type { Clock } from './clock.js';
export { mtlsAuthenticator } from './auth/mtls.js';
export { defaultPullServerConfig, type PullAllowRule, type PullServerConfig, type PullStats, type PullTarget } from './pull/index.js';
