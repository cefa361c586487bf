/**
 * Server replicas and agents of the real CLI (`node <build>/src/main.js`) as
 * child processes, for the HA tests: a replica keeps its server id, agent
 * port and Unix socket across a SIGKILL and restart; the admin JSON views
 * say which agents a replica holds and which replicas an agent holds. Every
 * process is tracked and SIGKILLed by pid in killAll().
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import http from 'node:http';
import type { DevPkiFiles } from '../../src/certs/dev-ca.js';
import { cliPath } from './paths.js';

/** One JSON log line of a child (non-JSON lines are kept with level 'raw'). */
export type LogLine = Record<string, unknown> & { level: string; message: string };

/** A CLI child process whose stderr JSON log lines are collected. */
export class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' } });
    this.child.stdout.resume();
    let buf = '';
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

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first log line matching pred; rejects when the process exits or time runs out first. */
  async waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (!this.running) throw new Error(`${this.name} exited before "${what}":\n${this.dump()}`);
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

  /** SIGKILL by pid; resolves once it exited. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM by pid (the graceful path: a server deletes its Lease). */
  term(): void {
    this.signal('SIGTERM');
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.child.pid!, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e; // exited, exit event not seen yet
    }
  }

  dump(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const live = new Set<Proc>();

function start(name: string, args: string[]): Proc {
  const p = new Proc(name, args);
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p;
}

/** SIGKILLs every process started here that still runs. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

/** A server replica as started: its process and bound addresses. */
export interface Replica {
  proc: Proc;
  serverID: string;
  udsPath: string;
  agentPort: number;
  healthPort: number;
  adminPort: number;
}

/** What a replica is started with. */
export interface ReplicaSpec {
  pki: DevPkiFiles;
  serverID: string;
  udsPath: string;
  /** 0 (default) for an ephemeral port; a restart passes the port it had. */
  agentPort?: number;
  extra?: string[];
}

/** `tunnel --mode=server` with a Unix-socket frontend and mTLS agent port on 127.0.0.1; waits for `listening`. */
export async function startReplica(spec: ReplicaSpec): Promise<Replica> {
  const proc = start(spec.serverID, [
    '--mode=server',
    `--server-id=${spec.serverID}`,
    `--uds-name=${spec.udsPath}`,
    `--agent-port=${spec.agentPort ?? 0}`,
    '--agent-bind-address=127.0.0.1',
    '--health-port=0',
    '--health-bind-address=127.0.0.1',
    '--admin-port=0',
    `--cluster-cert=${spec.pki.serverCert}`,
    `--cluster-key=${spec.pki.serverKey}`,
    `--cluster-ca-cert=${spec.pki.caCert}`,
    ...(spec.extra ?? []),
  ]);
  const l = await proc.waitFor((x) => x.message === 'listening', 'listening');
  return {
    proc,
    serverID: spec.serverID,
    udsPath: l['udsPath'] as string,
    agentPort: l['agentPort'] as number,
    healthPort: l['healthPort'] as number,
    adminPort: l['adminPort'] as number,
  };
}

/** An agent as started. */
export interface CliAgent {
  proc: Proc;
  agentID: string;
  healthPort: number;
  adminPort: number;
}

/** `tunnel --mode=agent` with the dev PKI's agent certificate; waits for `listening`. */
export async function startCliAgent(spec: { pki: DevPkiFiles; agentID: string; serverHost: string; serverPort: number; extra?: string[] }): Promise<CliAgent> {
  const proc = start(spec.agentID, [
    '--mode=agent',
    `--agent-id=${spec.agentID}`,
    `--proxy-server-host=${spec.serverHost}`,
    `--proxy-server-port=${spec.serverPort}`,
    `--ca-cert=${spec.pki.caCert}`,
    `--agent-cert=${spec.pki.agentCert}`,
    `--agent-key=${spec.pki.agentKey}`,
    '--health-server-host=127.0.0.1',
    '--health-server-port=0',
    '--admin-server-port=0',
    ...(spec.extra ?? []),
  ]);
  const l = await proc.waitFor((x) => x.message === 'listening', 'listening');
  return { proc, agentID: spec.agentID, healthPort: l['healthPort'] as number, adminPort: l['adminPort'] as number };
}

/** GET a JSON document from 127.0.0.1:port; undefined when nothing answers or the status is not 200. */
export function getJson<T>(port: number, path: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as T) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
  });
}

/** Agent ids a replica holds, each with its number of streams (admin /agents). */
export async function replicaAgents(r: Replica): Promise<Record<string, number>> {
  const v = await getJson<{ agents: { id: string; streams: unknown[] }[] }>(r.adminPort, '/agents');
  const out: Record<string, number> = {};
  for (const a of v?.agents ?? []) out[a.id] = a.streams.length;
  return out;
}

/** Server ids an agent holds a connection to, sorted (admin /connections). */
export async function agentServers(a: CliAgent): Promise<string[]> {
  const v = await getJson<{ servers: { serverID: string }[] }>(a.adminPort, '/connections');
  return (v?.servers ?? []).map((s) => s.serverID).sort();
}

/** Polls read() every 25 ms until check() holds; throws naming `what` and the last value after timeoutMs. */
export async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
