/**
 * The real CLI as a child process: help, version, usage errors (exit 2, one
 * line on stderr, no stack trace) and start failures (exit 1, naming the flag).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { cliPath, repoRoot } from '../support/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let pki: DevPkiFiles;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-cli-usage-'));
  pki = await writeDevPki(path.join(dir, 'pki'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tunnel --help and --version', () => {
  it('--help exits 0 and lists both modes', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tunnel --mode=server');
    expect(r.stdout).toContain('tunnel --mode=agent');
  });

  it('--mode=server --help lists the server flags with defaults', async () => {
    const r = await run(['--mode=server', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--uds-name', '--server-port', '--agent-port', '--health-port', '--admin-port', '--cluster-ca-cert', '--proxy-strategies']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/--admin-port int\s+[^\n]*\n?[^\n]*\(default 8095\)/);
  });

  it('--mode=agent --help lists the agent flags', async () => {
    const r = await run(['--mode=agent', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--proxy-server-host', '--agent-identifiers', '--sync-interval-cap', '--health-server-port']) {
      expect(r.stdout).toContain(flag);
    }
  });

  it("--version prints package.json's version", async () => {
    const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`tunnel ${version}`);
  });
});

describe('usage errors exit 2 with one line on stderr', () => {
  it.each([
    [['--mode=agent', '--proxy-sever-host=x'], /^tunnel: unknown flag --proxy-sever-host \(did you mean --proxy-server-host\?\)/],
    [[], /^tunnel: missing --mode: pass --mode=server .* or --mode=agent/],
    [['--mode=agent', '--sync-interval=5'], /^tunnel: invalid value "5" for --sync-interval: no unit/],
    [['--mode=agent', '--sync-interval=20s'], /^tunnel: --sync-interval \(20s\) must not be greater than --sync-interval-cap/],
    [['--mode=agent', '--agent-identifiers=zone=a'], /^tunnel: invalid value "zone=a" for --agent-identifiers: unknown agent identifier key "zone"/],
    [['--mode=server', '--uds-name=/tmp/x.sock', '--cluster-cert=/nonexistent/tls.crt', '--cluster-key=/nonexistent/tls.key'], /^tunnel: --cluster-cert: file "\/nonexistent\/tls.crt" does not exist/],
  ])('%j', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('requires --server-ca-cert for the TCP frontend', async () => {
    const r = await run([
      '--mode=server',
      `--server-cert=${pki.serverCert}`,
      `--server-key=${pki.serverKey}`,
      `--cluster-cert=${pki.serverCert}`,
      `--cluster-key=${pki.serverKey}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--server-ca-cert is required with the TCP frontend/);
  });
});

describe('start failures exit 1 with one error line naming the flag', () => {
  let blocker: net.Server;
  let port: number;
  beforeAll(async () => {
    blocker = net.createServer();
    // A port in upstream's allowed range (1024-49151), taken by us.
    for (let p = 20_000 + Math.floor(Math.random() * 20_000); ; p++) {
      const ok = await new Promise<boolean>((resolve) => {
        blocker.once('error', () => resolve(false));
        blocker.listen(p, '127.0.0.1', () => resolve(true));
      });
      if (ok) {
        port = p;
        break;
      }
    }
  });
  afterAll(() => new Promise<void>((r) => blocker.close(() => r())));

  it('names --health-port when its port is in use', async () => {
    const r = await run(
      [
        '--mode=server',
        `--uds-name=${path.join(dir, 'busy.sock')}`,
        `--cluster-cert=${pki.serverCert}`,
        `--cluster-key=${pki.serverKey}`,
        '--agent-port=0',
        '--admin-port=0',
        `--health-port=${port}`,
        '--health-bind-address=127.0.0.1',
      ],
      { TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' },
    );
    expect(r.code).toBe(1);
    const errors = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; message: string })
      .filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(new RegExp(`^cannot listen on --health-port ${port}: address already in use`));
  });
});
