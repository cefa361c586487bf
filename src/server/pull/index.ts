/** Pull mode, server side: named targets, the allow-list, PullService. */
export type { PullAllowRule, PullServerConfig, PullTarget } from './config.js';
export {
  ANY_AGENT,
  DEFAULT_PULL_ALLOW,
  DEFAULT_PULL_DIAL_TIMEOUT_MS,
  DEFAULT_PULL_MAX_CONNECTIONS_PER_AGENT,
  defaultPullServerConfig,
  KUBERNETES_TARGET,
} from './defaults.js';
export { inClusterApiserver, parsePullAllow, parsePullTarget, PullConfigError, resolvePullTargets } from './parse.js';
export { PullPolicy, type PullDecision } from './policy.js';
export { pullPrincipal, type PullPrincipal } from './principal.js';
export { PullService, type PullServiceDeps, type PullStats } from './pull-service.js';
export { PullDialError, tcpPullDialer, type PullDialer } from './dialer.js';
