/**
 * The agent's HTTP endpoints.
 * - health (healthServerHost:healthServerPort): /healthz, /readyz and /ready
 *   (ready while a server stream is open and the agent is not draining; else
 *   503 with upstream's text), /metrics.
 * - admin (adminBindAddress:adminServerPort): /metrics answers 301 to the
 *   health port's /metrics as upstream does; /connections is a JSON view of
 *   the server streams and their endpoint connections.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';
import { checksRoute, metricsRoute, type NamedCheck, type Route, textRoute } from '../observability/http-endpoint.js';
import { TEXT } from '../protocol/index.js';
import type { ServerConnectionInfo } from './client-set.js';

/** What the health routes look at. */
export interface HealthSource {
  /** Open server streams. */
  serverConnections(): number;
  draining(): boolean;
}

/** Routes of the health port; `extraChecks` (e.g. pull mode's) follow the agent's own readiness checks. */
export function healthRoutes(src: HealthSource, registry: Registry, extraChecks: NamedCheck[] = []): Record<string, Route> {
  const checks: NamedCheck[] = [
    { name: 'server-connected', check: () => (src.serverConnections() > 0 ? null : 'no servers connected') },
    { name: 'not-draining', check: () => (src.draining() ? 'agent is draining' : null) },
    ...extraChecks,
  ];
  const readyz = checksRoute('readyz', checks, 503, (failed) =>
    failed.map((f) => `[-]${f.name} failed: ${f.reason}`).join('\n'),
  );
  return {
    '/healthz': textRoute(200, TEXT.readyOK),
    '/readyz': readyz,
    '/ready': readyz,
    '/metrics': metricsRoute(registry),
  };
}

/** The admin view's JSON document. */
export interface AdminView {
  agentID: string;
  ready: boolean;
  draining: boolean;
  /** Streams wanted (server count or listed addresses, whichever is larger). */
  wantedServers: number;
  servers: ServerConnectionInfo[];
}

/** Routes of the admin port; `healthPort()` is the bound health port (-1 when disabled). */
export function adminRoutes(view: () => AdminView, healthPort: () => number): Record<string, Route> {
  return {
    '/metrics': (req, res) => {
      const port = healthPort();
      if (port < 0) {
        textRoute(404, 'metrics are served on the health port, which is disabled\n')(req, res, new URL('http://x/'));
        return;
      }
      res.writeHead(301, { location: `http://${hostOf(req)}:${port}/metrics` });
      res.end();
    },
    '/connections': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(view(), null, 2) + '\n');
    },
  };
}

/** The host the client used, without its port (IPv6 in brackets). */
function hostOf(req: http.IncomingMessage): string {
  const header = req.headers.host;
  if (header === undefined || header === '') {
    const local = req.socket.localAddress ?? 'localhost';
    return net.isIPv6(local) ? `[${local}]` : local;
  }
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  const colon = header.lastIndexOf(':');
  return colon >= 0 && header.indexOf(':') === colon ? header.slice(0, colon) : header;
}
