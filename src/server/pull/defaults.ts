/**
 * Defaults and constants of pull mode on the server, in one place.
 */
import type { PullAllowRule, PullServerConfig } from './config.js';

/** The built-in name of the meta cluster's kube-apiserver. */
export const KUBERNETES_TARGET = 'kubernetes';

/** The allow-list identity that matches every authenticated agent. */
export const ANY_AGENT = '*';

/** With no --pull-allow at all: every authenticated agent may reach the meta apiserver, and nothing else. */
export const DEFAULT_PULL_ALLOW: readonly PullAllowRule[] = Object.freeze([{ identity: ANY_AGENT, targets: [KUBERNETES_TARGET] }]);

/** Default of PullServerConfig.maxConnectionsPerAgent. */
export const DEFAULT_PULL_MAX_CONNECTIONS_PER_AGENT = 256;

/** Default of PullServerConfig.dialTimeoutMs. */
export const DEFAULT_PULL_DIAL_TIMEOUT_MS = 10_000;

/** Payload of one target→agent DATA packet (the size of one socket read, at most). */
export const PULL_READ_CHUNK_BYTES = 32 * 1024;

/** After CLOSE_REQ, the target socket gets this long to take what was written before it is destroyed. */
export const PULL_CLOSE_LINGER_MS = 5_000;

/** A complete config: the defaults (no targets; the default allow-list) with overrides applied. */
export function defaultPullServerConfig(overrides: Partial<PullServerConfig> = {}): PullServerConfig {
  return {
    targets: [],
    allow: DEFAULT_PULL_ALLOW.map((r) => ({ identity: r.identity, targets: [...r.targets] })),
    maxConnectionsPerAgent: DEFAULT_PULL_MAX_CONNECTIONS_PER_AGENT,
    dialTimeoutMs: DEFAULT_PULL_DIAL_TIMEOUT_MS,
    ...overrides,
  };
}
