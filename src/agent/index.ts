/** The tunnel agent (`--mode=agent`): public API used by the CLI and tests. */
export { TunnelAgent, type AgentDeps, type AgentAddresses, type AgentStats } from './agent.js';
export type { AgentConfig } from './config.js';
export { AGENT_DEFAULTS, defaultAgentConfig, TIMING } from './defaults.js';
export { tcpDialer, parseDialAddress, type EndpointDialer, type EndpointDialOptions } from './dialer.js';
export { describeDialError, type DialFailure } from './dial-errors.js';
export { AgentError, AgentConfigError, DialError, DuplicateServerError, ServerRefusedError, type AgentErrorCode } from './errors.js';
export { validateAgentConfig } from './validate.js';
export type { AgentClock } from './clock.js';
export type { ServerConnection, ServerConnector } from './server-connection.js';
export type { ServerTarget } from './server-target.js';
export {
  defaultAgentPullConfig,
  PullClient,
  type AgentPullConfig,
  type MetaKubeOptions,
  type PullAddresses,
  type PullListen,
  type PullProxyListen,
} from './pull/index.js';
export { PullError, type PullErrorCode } from '../transport/pull-errors.js';
