/**
 * A small HTTP listener for health, readiness, metrics and admin views.
 * Each role (server, agent) supplies its own routes and texts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

export interface HttpEndpoint {
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

export async function startHttpEndpoint(opts: {
  host: string;
  port: number;
  routes: Record<string, Route>;
}): Promise<HttpEndpoint> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = opts.routes[url.pathname];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`404 page not found\n`);
      return;
    }
    Promise.resolve(route(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${(err as Error).message}\n`);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host === '' ? undefined : opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    address: addr.address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** GET /metrics in the Prometheus text format. */
export function metricsRoute(registry: Registry): Route {
  return async (_req, res) => {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(body);
  };
}

export function textRoute(status: number, body: string): Route {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
}

export interface NamedCheck {
  name: string;
  /** null when healthy, else the reason. */
  check(): string | null;
  /** Optional note on a passing check, shown in the verbose form as `[+]name ok (note)`. */
  detail?(): string | null;
}

/**
 * A readiness or liveness route in the Kubernetes healthz form: "ok" or the
 * role's failure text; with `?verbose`, one `[+]name ok` / `[-]name failed: reason` line per check.
 */
export function checksRoute(
  kind: 'readyz' | 'healthz',
  checks: NamedCheck[],
  failStatus: number,
  failText: (failed: { name: string; reason: string }[]) => string,
): Route {
  return (_req, res, url) => {
    const results = checks.map((c) => ({ name: c.name, reason: c.check() }));
    const failed = results.filter((r) => r.reason !== null) as { name: string; reason: string }[];
    const verbose = url.searchParams.has('verbose');
    let body: string;
    if (verbose) {
      body = results
        .map((r, i) => {
          if (r.reason !== null) return `[-]${r.name} failed: ${r.reason}`;
          const note = checks[i]!.detail?.() ?? null;
          return note === null ? `[+]${r.name} ok` : `[+]${r.name} ok (${note})`;
        })
        .join('\n');
      body += failed.length === 0 ? `\n${kind} check passed\n` : `\n${kind} check failed\n`;
    } else {
      body = failed.length === 0 ? 'ok' : failText(failed);
    }
    res.writeHead(failed.length === 0 ? 200 : failStatus, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
}
