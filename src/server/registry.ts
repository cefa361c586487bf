/**
 * The backend registry: connected agents by id, each with its streams in
 * connection order, and backend selection through the configured
 * strategies. Keeps the ready_backends gauges current.
 */
import type { ServerMetrics } from '../observability/metrics.js';
import type { Backend } from './backend.js';
import type { ProxyStrategy } from './config.js';
import { ServerError } from './errors.js';
import { type AgentCandidate, STRATEGIES } from './strategies.js';

/** One agent as the strategies see it, with its streams. */
interface AgentEntry extends AgentCandidate {
  readonly streams: Backend[];
}

/** Connected agents and backend selection. */
export class BackendRegistry {
  private readonly agents = new Map<string, Backend[]>();

  constructor(
    private readonly strategies: readonly ProxyStrategy[],
    private readonly metrics: ServerMetrics,
    private readonly random: () => number = Math.random,
  ) {
    if (strategies.length === 0) throw new ServerError('ERR_BAD_CONFIG', 'at least one proxy strategy is required');
    this.updateGauges();
  }

  /** Registers an agent stream; an agent's first stream stays preferred. */
  add(b: Backend): void {
    const list = this.agents.get(b.agentID);
    if (list) list.push(b);
    else this.agents.set(b.agentID, [b]);
    this.updateGauges();
  }

  /** Unregisters an agent stream (idempotent). */
  remove(b: Backend): void {
    const list = this.agents.get(b.agentID);
    if (!list) return;
    const i = list.indexOf(b);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.agents.delete(b.agentID);
    this.updateGauges();
  }

  /** Call after a stream's draining flag changed. */
  changed(): void {
    this.updateGauges();
  }

  /**
   * Picks a stream for a dial to `address`: strategies in order, "not found"
   * falls through. Throws ServerError ERR_NO_AGENT when none found one, or
   * the strategy's own error (e.g. ERR_BAD_DIAL_ADDRESS).
   */
  pick(address: string): Backend {
    const entries = this.entries();
    for (const name of this.strategies) {
      const chosen = STRATEGIES[name].pick(entries, address, this.random) as AgentEntry | undefined;
      if (chosen) return chosen.streams.find((s) => !s.draining) ?? chosen.streams[0]!;
    }
    throw new ServerError('ERR_NO_AGENT', 'No agent available');
  }

  /** Agents the first strategy can use: what readiness reports (as upstream). */
  readyAgents(): number {
    const first = STRATEGIES[this.strategies[0]!];
    return this.entries().filter((a) => first.eligible(a)).length;
  }

  /** Number of connected agents (by id). */
  agentCount(): number {
    return this.agents.size;
  }

  /** Number of agent streams. */
  streamCount(): number {
    let n = 0;
    for (const list of this.agents.values()) n += list.length;
    return n;
  }

  /** Every agent stream, grouped by agent in connection order. */
  byAgent(): ReadonlyMap<string, readonly Backend[]> {
    return this.agents;
  }

  private entries(): AgentEntry[] {
    const out: AgentEntry[] = [];
    for (const [agentID, streams] of this.agents) {
      out.push({
        agentID,
        identifiers: streams[0]!.identifiers,
        draining: streams.every((s) => s.draining),
        streams,
      });
    }
    return out;
  }

  private updateGauges(): void {
    const entries = this.entries();
    for (const name of this.strategies) {
      const s = STRATEGIES[name];
      this.metrics.readyBackends.set({ proxy_strategy: name }, entries.filter((a) => s.eligible(a)).length);
    }
    this.metrics.readyBackendConnections.set(this.streamCount());
  }
}
