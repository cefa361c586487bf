/**
 * The server's HTTP endpoints: health (/healthz, /readyz, /ready, /metrics)
 * and admin (/metrics, /agents, /stats, /connections).
 */
import type { Registry } from 'prom-client';
import {
  checksRoute,
  type HttpEndpoint,
  metricsRoute,
  type NamedCheck,
  type Route,
  startHttpEndpoint,
} from '../observability/http-endpoint.js';
import { TEXT } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { ConnectionsView } from './connections-view.js';
import type { BackendRegistry } from './registry.js';

/**
 * Starts the health endpoint; `readyAgents` counts agents the first strategy
 * can use; `checks` are more readiness checks (e.g. the CSR certificate's).
 */
export function startHealthEndpoint(opts: {
  host: string;
  port: number;
  registry: Registry;
  readyAgents: () => number;
  checks?: NamedCheck[];
}): Promise<HttpEndpoint> {
  const ready = checksRoute(
    'readyz',
    [{ name: 'agent-connected', check: () => (opts.readyAgents() > 0 ? null : TEXT.serverNotReady) }, ...(opts.checks ?? [])],
    500,
    (failed) => failed.map((f) => (f.name === 'agent-connected' ? TEXT.serverNotReady : `${f.name}: ${f.reason}`)).join('\n'),
  );
  return startHttpEndpoint({
    host: opts.host,
    port: opts.port,
    routes: {
      '/healthz': checksRoute('healthz', [{ name: 'ping', check: () => null }], 500, () => 'unhealthy'),
      '/readyz': ready,
      '/ready': ready,
      '/metrics': metricsRoute(opts.registry),
    },
  });
}

/** One agent in the admin view. */
export interface AgentView {
  id: string;
  /** The first stream's `agentidentifiers`. */
  identifiers: string;
  /** Who the agent authenticated as. */
  identity: string;
  authMethod: string;
  /** True when every stream sent DRAIN. */
  draining: boolean;
  streams: {
    peer: string;
    identifiers: string;
    identity: string;
    draining: boolean;
    connectedSeconds: number;
    connections: number;
    pendingDials: number;
    /** True when per-connection flow control was negotiated on this stream (FLOW-CONTROL.md). */
    flowControl: boolean;
    /** True once the agent's Downlink stream (its second connection, for server→agent bytes) is attached. */
    downlink: boolean;
  }[];
  connections: number;
  pendingDials: number;
}

/** Who this replica is: its id, the `servercount` agents get now, and where that count comes from. */
export interface ReplicaView {
  serverID: string;
  serverCount: number;
  /** Leases (namespace, selector, each Lease's holder and time left) or the --server-count flag. */
  ha: Record<string, unknown>;
}

/** The admin view of connected agents. */
export function agentsView(registry: BackendRegistry, clock: Clock): AgentView[] {
  const out: AgentView[] = [];
  for (const [id, streams] of registry.byAgent()) {
    const first = streams[0]!;
    const views = streams.map((b) => ({
      peer: b.stream.peer,
      identifiers: b.identifiersText,
      identity: b.identity.subject,
      draining: b.draining,
      connectedSeconds: Math.round((clock.now() - b.connectedAt) / 1000),
      connections: b.connections.size,
      pendingDials: b.pendingDials.size,
      flowControl: b.flow !== undefined,
      downlink: b.downlink,
    }));
    out.push({
      id,
      identifiers: first.identifiersText,
      identity: first.identity.subject,
      authMethod: first.identity.method,
      draining: streams.every((b) => b.draining),
      streams: views,
      connections: views.reduce((n, v) => n + v.connections, 0),
      pendingDials: views.reduce((n, v) => n + v.pendingDials, 0),
    });
  }
  return out;
}

/**
 * Starts the admin endpoint (127.0.0.1 by default): /metrics, /agents,
 * /stats (the server's live counts: agents, streams, pending dials,
 * established connections, open client streams; all 0 when idle), and
 * /connections (each pending dial and established connection).
 */
export function startAdminEndpoint(opts: {
  host: string;
  port: number;
  registry: Registry;
  agents: () => AgentView[];
  /** This replica's id and the `servercount` it sends now, shown above the agents (ReplicaView). */
  replica?: () => ReplicaView;
  stats: () => Readonly<Record<string, number>>;
  /** Pending dials and established connections (connections-view.ts). */
  connections: () => ConnectionsView;
}): Promise<HttpEndpoint> {
  const json =
    (doc: () => unknown): Route =>
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc(), null, 2) + '\n');
    };
  return startHttpEndpoint({
    host: opts.host,
    port: opts.port,
    routes: {
      '/metrics': metricsRoute(opts.registry),
      '/agents': json(() => ({ ...opts.replica?.(), agents: opts.agents() })),
      '/stats': json(opts.stats),
      '/connections': json(opts.connections),
    },
  });
}
