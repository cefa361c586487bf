/**
 * Backend selection strategies (anp-protocol.md section 5), as pure
 * functions over a snapshot of connected agents. A strategy returns the
 * chosen agent, or undefined for "not found" (the registry then tries the
 * next configured strategy); it throws a ServerError when it cannot judge
 * the dial at all, which fails the dial.
 */
import type { AgentIdentifiers } from '../protocol/index.js';
import type { ProxyStrategy } from './config.js';
import { ServerError } from './errors.js';

/** What a strategy sees of one agent. */
export interface AgentCandidate {
  readonly agentID: string;
  readonly identifiers: AgentIdentifiers;
  /** True when every stream of the agent sent DRAIN. */
  readonly draining: boolean;
}

/** One strategy: picks an agent for a dial address. */
export interface Strategy {
  /** True when the agent can ever be chosen by this strategy (the ready_backends gauge). */
  eligible(agent: AgentCandidate): boolean;
  /**
   * Picks among `agents` (in connection order) for `address`; `random()`
   * returns a float in [0, 1). Undefined means "not found".
   */
  pick(agents: readonly AgentCandidate[], address: string, random: () => number): AgentCandidate | undefined;
}

/**
 * Starting at a random index, the first non-draining agent; else the first
 * draining one from the same start (a draining agent is still used when it is
 * the only kind left).
 */
function pickPreferringActive<T extends AgentCandidate>(list: readonly T[], random: () => number): T | undefined {
  if (list.length === 0) return undefined;
  const start = Math.floor(random() * list.length) % list.length;
  let fallback: T | undefined;
  for (let i = 0; i < list.length; i++) {
    const a = list[(start + i) % list.length]!;
    if (!a.draining) return a;
    fallback ??= a;
  }
  return fallback;
}

/**
 * Splits "host:port" as Go's net.SplitHostPort does: "[::1]:80" gives
 * "::1"; a missing port, or an IPv6 literal without brackets, is an error.
 */
export function dialHost(address: string): string {
  const bad = (why: string): ServerError =>
    new ServerError('ERR_BAD_DIAL_ADDRESS', `dial address "${address}" is not host:port: ${why}`);
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0) throw bad('missing "]"');
    if (address[end + 1] !== ':') throw bad('missing port');
    if (address.indexOf(':', end + 2) >= 0 || address.includes('[', 1)) throw bad('unexpected characters after the port');
    return address.slice(1, end);
  }
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw bad('missing port');
  const host = address.slice(0, colon);
  if (host.includes(':')) throw bad('too many colons (IPv6 literals need brackets)');
  if (host.includes('[') || host.includes(']')) throw bad('unexpected brackets');
  return host;
}

/** Any connected agent. */
const defaultStrategy: Strategy = {
  eligible: () => true,
  pick: (agents, _address, random) => pickPreferringActive(agents, random),
};

/** An agent whose ipv4, ipv6 or host identifier equals the dial host, as a string (no DNS, no CIDR). */
const destHostStrategy: Strategy = {
  eligible: (a) => a.identifiers.ipv4.length + a.identifiers.ipv6.length + a.identifiers.host.length > 0,
  pick: (agents, address, random) => {
    const host = dialHost(address);
    const matches = agents.filter(
      (a) => a.identifiers.host.includes(host) || a.identifiers.ipv4.includes(host) || a.identifiers.ipv6.includes(host),
    );
    return pickPreferringActive(matches, random);
  },
};

/** A random agent among those announcing default-route=true. */
const defaultRouteStrategy: Strategy = {
  eligible: (a) => a.identifiers.defaultRoute,
  pick: (agents, _address, random) => pickPreferringActive(agents.filter((a) => a.identifiers.defaultRoute), random),
};

/** The strategies by their flag name (`--proxy-strategies`). */
export const STRATEGIES: Readonly<Record<ProxyStrategy, Strategy>> = Object.freeze({
  default: defaultStrategy,
  destHost: destHostStrategy,
  defaultRoute: defaultRouteStrategy,
});
