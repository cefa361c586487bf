/**
 * Server replicas and agents of the real CLI (`node <build>/src/main.js`) as
 * child processes, for the HA tests: a replica keeps its server id, agent
 * port and Unix socket across a SIGKILL and restart; the admin JSON views
 * say which agents a replica holds and which replicas an agent holds. Every
 * process is tracked and SIGKILLed by pid in killAll().
 */
import http from 'node:http';
import type { DevPkiFiles } from '../../src/certs/dev-ca.js';
import { type CliProc, startCli } from './cli-procs.js';

/** Every process started here is a CliProc of cli-procs.ts, tracked there and SIGKILLed by killAll(). */
export { stopAll as killAll, type LogLine } from './cli-procs.js';

/** A server replica as started: its process and bound addresses. */
export interface Replica {
  proc: CliProc;
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
  const proc = startCli(spec.serverID, [
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
  const l = await proc.waitFor((x) => x.message === 'listening', 'listening', 30_000);
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
  proc: CliProc;
  agentID: string;
  healthPort: number;
  adminPort: number;
}

/** `tunnel --mode=agent` with the dev PKI's agent certificate; waits for `listening`. */
export async function startCliAgent(spec: { pki: DevPkiFiles; agentID: string; serverHost: string; serverPort: number; extra?: string[] }): Promise<CliAgent> {
  const proc = startCli(spec.agentID, [
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
  const l = await proc.waitFor((x) => x.message === 'listening', 'listening', 30_000);
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
