/**
 * Spawn helpers for the real CLI (`node <build>/src/main.js`) as child
 * processes: a server and agents with a dev PKI and ephemeral ports. The
 * `listening` log line gives the bound ports; readiness is read from
 * /readyz; counts from the admin JSON views; metrics from /metrics. Every
 * process started here is tracked and killed by pid in stopAll().
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import http from 'node:http';
import type { DevPkiFiles } from '../../src/certs/dev-ca.js';
import { cliPath } from './paths.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

/** One JSON log line of a child (non-JSON lines are kept as level 'raw'). */
export type LogLine = Record<string, unknown> & { level: string; message: string };

/** A CLI child process whose stderr JSON log lines are collected as they come. */
export class CliProc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    /** Node flags before the script: those the image runs with, unless a test wants others. */
    nodeFlags: readonly string[] = NODE_FLAGS,
  ) {
    this.child = spawn(process.execPath, [...nodeFlags, cliPath, ...args], {
      env: { ...process.env, TUNNEL_ALLOW_EPHEMERAL_PORTS: '1', ...env },
    });
    let buf = '';
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(text) as LogLine);
        } catch {
          this.lines.push({ level: 'raw', message: text });
        }
      }
      this.wake();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.wake();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line matching pred; rejects if the process exits or time runs out first. */
  async waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (!this.running) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before "${what}":\n${this.dump()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${what}" within ${timeoutMs} ms:\n${this.dump()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The `listening` line (carries the bound ports). */
  listening(): Promise<LogLine> {
    return this.waitFor((l) => l.message === 'listening', 'listening');
  }

  /** Sends a signal to this process by its pid; one that exited before its exit event is not an error. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  /** SIGKILL by pid, then waits for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** Every log line, for failure messages. */
  dump(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Every process started through this module and not yet stopped. */
const started = new Set<CliProc>();

/** Starts the CLI with these arguments (tracked for stopAll()). */
export function startCli(name: string, args: string[], env?: NodeJS.ProcessEnv, nodeFlags?: readonly string[]): CliProc {
  const p = new CliProc(name, args, env, nodeFlags);
  started.add(p);
  void p.exited.then(() => started.delete(p));
  return p;
}

/** SIGKILLs every process still running (afterEach/afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.kill()));
}

/** A running CLI server and its bound addresses. */
export interface CliServer {
  proc: CliProc;
  udsPath?: string;
  frontendPort?: number;
  agentPort: number;
  healthPort: number;
  adminPort: number;
}

/** Server options: a Unix socket and/or an ephemeral mTLS TCP frontend. */
export interface ServerSpec {
  pki: DevPkiFiles;
  uds?: string;
  /** Also (or only) an ephemeral mTLS TCP frontend. */
  tcp?: boolean;
  extra?: string[];
  /** Extra environment of the child. */
  env?: NodeJS.ProcessEnv;
}

/** Starts `tunnel --mode=server` with ephemeral ports on 127.0.0.1 and waits for `listening`. */
export async function startServer(spec: ServerSpec): Promise<CliServer> {
  const { pki } = spec;
  const args = [
    '--mode=server',
    '--agent-port=0',
    '--agent-bind-address=127.0.0.1',
    '--health-port=0',
    '--health-bind-address=127.0.0.1',
    '--admin-port=0',
    `--cluster-cert=${pki.serverCert}`,
    `--cluster-key=${pki.serverKey}`,
    `--cluster-ca-cert=${pki.caCert}`,
  ];
  if (spec.uds !== undefined) args.push(`--uds-name=${spec.uds}`);
  if (spec.tcp) {
    args.push(
      '--server-port=0',
      '--server-bind-address=127.0.0.1',
      `--server-cert=${pki.serverCert}`,
      `--server-key=${pki.serverKey}`,
      `--server-ca-cert=${pki.caCert}`,
    );
  }
  args.push(...(spec.extra ?? []));
  const proc = startCli('server', args, spec.env);
  const l = await proc.listening();
  const out: CliServer = {
    proc,
    agentPort: l['agentPort'] as number,
    healthPort: l['healthPort'] as number,
    adminPort: l['adminPort'] as number,
  };
  if (typeof l['udsPath'] === 'string') out.udsPath = l['udsPath'];
  if (typeof l['frontendPort'] === 'number') out.frontendPort = l['frontendPort'];
  return out;
}

/** A running CLI agent and its bound ports. */
export interface CliAgent {
  proc: CliProc;
  healthPort: number;
  adminPort: number;
}

/** Starts `tunnel --mode=agent` with the dev PKI's agent certificate, and waits for `listening`. */
export async function startAgent(spec: {
  pki: DevPkiFiles;
  agentPort: number;
  agentID: string;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<CliAgent> {
  const proc = startCli('agent', [
    '--mode=agent',
    `--agent-id=${spec.agentID}`,
    `--agent-identifiers=host=${spec.agentID}`,
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${spec.agentPort}`,
    `--ca-cert=${spec.pki.caCert}`,
    `--agent-cert=${spec.pki.agentCert}`,
    `--agent-key=${spec.pki.agentKey}`,
    '--health-server-host=127.0.0.1',
    '--health-server-port=0',
    '--admin-server-port=0',
    ...(spec.extra ?? []),
  ], spec.env);
  const l = await proc.listening();
  return { proc, healthPort: l['healthPort'] as number, adminPort: l['adminPort'] as number };
}

/** GET on 127.0.0.1; status 0 when nothing answers. */
export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/** Polls until `check` returns true (or throws with `what` after timeoutMs). Returns the last value seen. */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until GET path answers this status; returns the body. */
export async function waitStatus(port: number, path: string, status: number, timeoutMs = 20_000): Promise<string> {
  const r = await eventually(() => httpGet(port, path), (x) => x.status === status, `${path} on ${port} answering ${status}`, timeoutMs);
  return r.body;
}

/** The server's live counts (admin /stats). */
export interface ServerCounts {
  agents: number;
  agentStreams: number;
  pendingDials: number;
  established: number;
  frontendStreams: number;
  httpConnections: number;
}

/** The server's admin /stats view. */
export async function serverCounts(s: CliServer): Promise<ServerCounts> {
  const r = await httpGet(s.adminPort, '/stats');
  if (r.status !== 200) throw new Error(`admin /stats answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as ServerCounts;
}

/** One agent in the server's admin /agents view. */
export interface AdminAgentView {
  id: string;
  identity: string;
  authMethod: string;
  draining: boolean;
  connections: number;
  pendingDials: number;
  streams: { peer: string; identity: string; connectedSeconds: number }[];
}

/** The server's admin /agents view, from its admin port. */
export async function adminAgents(adminPort: number): Promise<AdminAgentView[]> {
  const r = await httpGet(adminPort, '/agents');
  return (JSON.parse(r.body) as { agents: AdminAgentView[] }).agents;
}

/** The server's admin /agents view. */
export function serverAgents(s: CliServer): Promise<AdminAgentView[]> {
  return adminAgents(s.adminPort);
}

/** What the agent's admin /connections view holds. */
export interface AgentCounts {
  servers: number;
  endpointConnections: number;
  pendingDials: number;
  draining: boolean;
}

/** The agent's admin /connections view, summed over its servers. */
export async function agentCounts(a: CliAgent): Promise<AgentCounts> {
  const r = await httpGet(a.adminPort, '/connections');
  const v = JSON.parse(r.body) as { draining: boolean; servers: { pendingDials: number; endpointConnections: unknown[] }[] };
  return {
    servers: v.servers.length,
    endpointConnections: v.servers.reduce((n, s) => n + s.endpointConnections.length, 0),
    pendingDials: v.servers.reduce((n, s) => n + s.pendingDials, 0),
    draining: v.draining,
  };
}

/** Waits until the server holds no pending dial, no established connection and no client stream. */
export function serverIdle(s: CliServer): Promise<ServerCounts> {
  return eventually(
    () => serverCounts(s),
    (c) => c.pendingDials === 0 && c.established === 0 && c.frontendStreams === 0 && c.httpConnections === 0,
    'server counts back to zero',
  );
}

/** Waits until the agent holds no endpoint connection and no pending dial. */
export function agentIdle(a: CliAgent): Promise<AgentCounts> {
  return eventually(() => agentCounts(a), (c) => c.endpointConnections === 0 && c.pendingDials === 0, 'agent counts back to zero');
}

/**
 * Sum of a metric's samples in Prometheus text whose labels include every
 * given label (0 when absent).
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(kv[1]!, kv[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Reads /metrics from a health port. */
export async function metrics(healthPort: number): Promise<string> {
  const r = await httpGet(healthPort, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.body;
}
