/**
 * Pull mode through the real CLI: a server (`--pull-target`, `--pull-allow`)
 * and an agent (`--pull-listen`, `--pull-proxy`) as child processes on
 * ephemeral ports; an HTTP service on the server's side reached from the
 * agent's side through both listeners; the agent's /metrics and
 * /readyz?verbose; both stop on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../support/paths.js';
import { connectThrough, HttpEcho, payload, postEcho, type PullPki, writePullPki } from '../support/pull-peers.js';

type LogLine = Record<string, unknown> & { message: string };

/** A CLI child process with its JSON log lines. */
class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
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
          this.lines.push({ message: text });
        }
      }
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  /** The first log line with this message (waits up to 30 s; fails early if the process exits). */
  async line(message: string): Promise<LogLine> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const l = this.lines.find((x) => x.message === message);
      if (l) return l;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no "${message}" line:\n${this.lines.map((x) => JSON.stringify(x)).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGTERM, then SIGKILL if it is still running after 10 s (cleanup after a failure). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      const code = await this.exited;
      clearTimeout(t);
      return code;
    }
    return this.exited;
  }
}

function get(port: number, p: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
      })
      .on('error', reject);
  });
}

let dir: string;
let pki: PullPki;
let norm: HttpEcho;
let server: Proc;
let agent: Proc;
let agentHealth: number;
let forward: number;
let proxy: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pull-cli-'));
  pki = await writePullPki(path.join(dir, 'pki'), ['cluster-a']);
  norm = await HttpEcho.start();
  server = new Proc([
    '--mode=server',
    `--uds-name=${path.join(dir, 'fe.sock')}`,
    '--agent-port=0',
    '--agent-bind-address=127.0.0.1',
    `--cluster-cert=${pki.serverCert}`,
    `--cluster-key=${pki.serverKey}`,
    `--cluster-ca-cert=${pki.caCert}`,
    '--health-port=0',
    '--health-bind-address=127.0.0.1',
    '--admin-port=0',
    `--pull-target=norm=127.0.0.1:${norm.port}`,
    '--pull-allow=cluster-a=norm',
  ]);
  const sl = await server.line('listening');
  agent = new Proc([
    '--mode=agent',
    '--agent-id=cluster-a',
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${sl['agentPort'] as number}`,
    `--ca-cert=${pki.caCert}`,
    `--agent-cert=${pki.agents['cluster-a']!.cert}`,
    `--agent-key=${pki.agents['cluster-a']!.key}`,
    '--health-server-host=127.0.0.1',
    '--health-server-port=0',
    '--admin-server-port=0',
    '--pull-listen=norm=127.0.0.1:0',
    '--pull-proxy=127.0.0.1:0',
  ]);
  const al = await agent.line('listening');
  agentHealth = al['healthPort'] as number;
  const pull = al['pull'] as { listen: Record<string, number>; proxyPort: number };
  forward = pull.listen['norm']!;
  proxy = pull.proxyPort;
  await agent.line('pull mode available');
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  await norm?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pull mode through the CLI', () => {
  it('reaches the server-side service through the port forward and the CONNECT proxy', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) => payload(20_000 + i));
    const viaForward = await Promise.all(bodies.map((b) => postEcho({ port: forward }, b)));
    viaForward.forEach((r, i) => expect(r.body.equals(bodies[i]!)).toBe(true));
    const c = await connectThrough(proxy, 'norm:80');
    expect(c.status).toBe(200);
    const viaProxy = await postEcho({ socket: c.socket! }, bodies[0]!);
    expect(viaProxy.body.equals(bodies[0]!)).toBe(true);
    const denied = await connectThrough(proxy, 'kubernetes:443');
    expect(denied.status).toBe(403);
  });

  it('reports pull in the agent metrics and readiness', async () => {
    const metrics = await get(agentHealth, '/metrics');
    expect(metrics.text).toMatch(/^tunnel_pull_connections_total\{target="norm",result="ok"\} 11$/m);
    expect(metrics.text).toMatch(/^tunnel_pull_open_connections\{target="norm"\} \d+$/m);
    const ready = await get(agentHealth, '/readyz?verbose');
    expect(ready.status).toBe(200);
    expect(ready.text).toMatch(/^\[\+\]pull ok$/m);
  });

  it('stops: the agent drains on the first SIGTERM and exits on the second, the server exits on one', async () => {
    agent.child.kill('SIGTERM');
    await agent.line('draining: servers are told to send no new dials, open connections continue; a second SIGTERM or SIGINT stops the agent');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(await server.stop()).toBe(0);
  });
});
