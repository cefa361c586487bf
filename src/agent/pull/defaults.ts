/**
 * Defaults and timing constants of pull mode on the agent, in one place.
 */
import type { AgentPullConfig } from './config.js';

/** The built-in name of the meta cluster's kube-apiserver (the server's default target). */
export const META_APISERVER_TARGET = 'kubernetes';

/** Timing and size constants of pull mode on the agent. */
export const PULL_TIMING = Object.freeze({
  /** A ListTargets call (run once per new server connection) is given up after this. */
  listTargetsTimeoutMs: 10_000,
  /** Backstop for a pull dial without DIAL_RSP (the server's own target dial times out sooner). */
  dialBackstopMs: 30_000,
  /** How long closing a pull connection waits for CLOSE_RSP, and for the server to end the stream. */
  closeTimeoutMs: 10_000,
  /** HTTP CONNECT proxy: the request head must arrive within this. */
  proxyHeaderTimeoutMs: 30_000,
  /** HTTP CONNECT proxy: largest request head. */
  proxyMaxHeaderBytes: 16 * 1024,
  /** After one side of a forwarded connection closed, the other gets this long to flush before it is destroyed. */
  spliceLingerMs: 5_000,
});

/** No listeners; the meta apiserver as `kubernetes`, system roots, no token. */
export function defaultAgentPullConfig(overrides: Partial<AgentPullConfig> = {}): AgentPullConfig {
  return {
    listen: [],
    kube: { target: META_APISERVER_TARGET, caCert: '', tokenPath: '', tlsServerName: '' },
    ...overrides,
  };
}
