/**
 * A server and an agent started through the real CLI (child processes, dev
 * PKI, ephemeral ports): readiness, and the two-phase shutdown on SIGTERM.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel } from '../../src/client/index.js';
import { startFakeKube } from '../support/fake-kube/index.js';
import { cliPath } from '../support/paths.js';

type LogLine = Record<string, unknown> & { level: string; message: string };

/** A CLI child process whose JSON log lines are collected as they come. */
class Role {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  private readonly waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' },
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
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      for (const w of this.waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /** Resolves with the first log line matching `pred`; rejects if the process exits or time runs out first. */
  async waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`exited (${this.child.exitCode ?? this.child.signalCode}) before "${what}":\n${this.dump()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${what}" within ${timeoutMs} ms:\n${this.dump()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  listening(): Promise<LogLine> {
    return this.waitFor((l) => l.message === 'listening', 'listening');
  }

  dump(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }
}

function get(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', () => resolve(0));
  });
}

function body(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

async function waitStatus(port: number, urlPath: string, status: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await get(port, urlPath)) !== status) {
    if (Date.now() > deadline) throw new Error(`${urlPath} on ${port} did not answer ${status} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let dir: string;
let pki: DevPkiFiles;
const started: Role[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-cli-roles-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});
afterEach(async () => {
  for (const r of started.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGKILL');
      await r.exited;
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[]): Role {
  const r = new Role(args);
  started.push(r);
  return r;
}

function serverArgs(uds: string, extra: string[] = []): string[] {
  return [
    `--uds-name=${uds}`,
    '--agent-port=0',
    '--health-port=0',
    '--admin-port=0',
    `--cluster-cert=${pki.serverCert}`,
    `--cluster-key=${pki.serverKey}`,
    `--cluster-ca-cert=${pki.caCert}`,
    ...extra,
  ];
}

function agentArgs(agentPort: number): string[] {
  return [
    '--mode=agent',
    '--agent-id=cluster-a',
    '--agent-identifiers=host=cluster-a',
    '--proxy-server-host=127.0.0.1',
    `--proxy-server-port=${agentPort}`,
    `--ca-cert=${pki.caCert}`,
    `--agent-cert=${pki.agentCert}`,
    `--agent-key=${pki.agentKey}`,
    '--health-server-port=0',
    '--admin-server-port=0',
  ];
}

describe('server and agent through the CLI', () => {
  it('become ready, the agent drains on the first SIGTERM and exits on the second, the server exits 0', async () => {
    const uds = path.join(dir, 'konnectivity-server.socket');
    const server = start(['--mode=grpc', ...serverArgs(uds)]);
    const sl = await server.listening();
    expect(sl).toMatchObject({ udsPath: uds, agentPort: expect.any(Number), healthPort: expect.any(Number), adminPort: expect.any(Number) });
    expect(server.lines.some((l) => l.level === 'info' && /both gRPC and HTTP CONNECT/.test(l.message))).toBe(true);
    const healthPort = sl['healthPort'] as number;
    expect(await get(healthPort, '/readyz')).toBe(500);

    const agent = start(agentArgs(sl['agentPort'] as number));
    const al = await agent.listening();
    const agentHealth = al['healthPort'] as number;
    await waitStatus(healthPort, '/readyz', 200);
    await waitStatus(agentHealth, '/readyz', 200);

    agent.child.kill('SIGTERM');
    await agent.waitFor((l) => /^draining/.test(l.message), 'draining');
    expect(await get(agentHealth, '/healthz')).toBe(200);
    expect(agent.child.exitCode).toBeNull();

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.lines.some((l) => /^shutting down/.test(l.message))).toBe(true);
    expect(existsSync(uds)).toBe(false);
  });

  it('serves a Unix socket and an ephemeral mTLS port together when both are asked for', async () => {
    const uds = path.join(dir, 'both.socket');
    const server = start([
      '--mode=server',
      ...serverArgs(uds, ['--server-port=0', `--server-cert=${pki.serverCert}`, `--server-key=${pki.serverKey}`, `--server-ca-cert=${pki.caCert}`]),
    ]);
    const sl = await server.listening();
    expect(sl).toMatchObject({ udsPath: uds, frontendPort: expect.any(Number) });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('waits for open connections on the first SIGTERM and exits 1 at once on the second', async () => {
    const target = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetAddr = `127.0.0.1:${(target.address() as AddressInfo).port}`;
    const uds = path.join(dir, 'graceful.socket');
    const server = start(['--mode=server', ...serverArgs(uds, ['--graceful-shutdown-timeout=1m'])]);
    const sl = await server.listening();
    const agent = start(agentArgs(sl['agentPort'] as number));
    await agent.listening();
    await waitStatus(sl['healthPort'] as number, '/readyz', 200);

    const tunnel = await createTunnel({ uds });
    try {
      const socket = await tunnel.dial(targetAddr);
      socket.on('error', () => undefined);
      const echoed = new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString())));
      socket.write('ping');
      expect(await echoed).toBe('ping');

      server.child.kill('SIGTERM');
      await server.waitFor((l) => l.message === 'waiting for open connections to finish', 'waiting for open connections');
      expect(server.child.exitCode).toBeNull();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(1);
      expect(server.lines.some((l) => /^second signal/.test(l.message))).toBe(true);
      socket.destroy();
    } finally {
      await tunnel.close().catch(() => undefined);
      await new Promise((r) => target.close(r));
    }
  });
});

describe('token authentication of agents through the CLI', () => {
  it('refuses an agent whose token fails the TokenReview and accepts one with the right ServiceAccount token', async () => {
    const audience = 'system:konnectivity-server';
    const fake = await startFakeKube();
    try {
      fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: 'konnectivity-agent' } });
      fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: 'someone-else' } });
      const goodToken = path.join(dir, 'good-token');
      const otherToken = path.join(dir, 'other-token');
      writeFileSync(goodToken, fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [audience] }));
      writeFileSync(otherToken, fake.issueToken('kube-system', 'someone-else', { audiences: [audience] }));

      const server = start([
        '--mode=server',
        `--uds-name=${path.join(dir, 'token.socket')}`,
        '--agent-port=0',
        '--health-port=0',
        '--admin-port=0',
        `--cluster-cert=${pki.serverCert}`,
        `--cluster-key=${pki.serverKey}`,
        '--agent-namespace=kube-system',
        '--agent-service-account=konnectivity-agent',
        `--authentication-audience=${audience}`,
        `--kubeconfig=${fake.kubeconfigPath}`,
      ]);
      const sl = await server.listening();
      const healthPort = sl['healthPort'] as number;
      const tokenAgent = (id: string, tokenFile: string): string[] => [
        '--mode=agent',
        `--agent-id=${id}`,
        '--proxy-server-host=127.0.0.1',
        `--proxy-server-port=${sl['agentPort'] as number}`,
        `--ca-cert=${pki.caCert}`,
        `--service-account-token-path=${tokenFile}`,
        '--health-server-port=0',
        '--admin-server-port=0',
      ];

      const review = fake.nextRequest((r) => r.path.includes('tokenreviews'));
      start(tokenAgent('intruder', otherToken));
      await review;
      expect(await get(healthPort, '/readyz')).toBe(500);

      start(tokenAgent('cluster-a', goodToken));
      await waitStatus(healthPort, '/readyz', 200);
      const agents = await body(sl['adminPort'] as number, '/agents');
      expect(agents).toContain('cluster-a');
      expect(agents).not.toContain('intruder');
    } finally {
      await fake.close();
    }
  });
});
