/** Child processes of a benchmark run: target, baseline relay, tunnel server and agent (the real CLI). */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Compiled CLI of this build (dist/src/main.js). */
export const cliPath = path.join(here, '..', '..', 'src', 'main.js');

export interface Proc {
  child: ChildProcess;
  info: Record<string, unknown>;
  stop(): Promise<void>;
  rssKiB(): number;
}

/**
 * BENCH_CPU_PROF=<dir>: the tunnel's server and agent run with `--cpu-prof`
 * and are stopped with signals (so the profile is written) instead of SIGKILL.
 */
const cpuProfDir = process.env['BENCH_CPU_PROF'];

function track(child: ChildProcess, info: Record<string, unknown>, graceful = false): Proc {
  return {
    child,
    info,
    rssKiB: () => rssKiB(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        if (!graceful) {
          child.kill('SIGKILL');
          return;
        }
        // Server: one signal stops it. Agent: the first drains, the second stops it.
        child.kill('SIGTERM');
        const again = setTimeout(() => child.kill('SIGTERM'), 1_000);
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(again);
          clearTimeout(kill);
        });
      }),
  };
}

/** Starts a bench helper script that prints one JSON line on stdout. */
export function startScript(script: string, args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(track(child, JSON.parse(buf.slice(0, nl)) as Record<string, unknown>));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** Starts `tunnel` with the given flags and resolves with its `listening` log line. */
export function startCli(args: string[], name: string): Promise<Proc> {
  const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(cpuProfDir, name)}`] : [];
  const child = spawn(process.execPath, [...NODE_FLAGS, ...prof, cliPath, ...args], {
    env: { ...process.env, TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 20 s`));
    }, 20_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          if (rec['message'] === 'listening') {
            clearTimeout(timer);
            resolve(track(child, rec, prof.length > 0));
          } else if (rec['level'] === 'error') process.stderr.write(`[${name}] ${line}\n`);
        } catch {
          process.stderr.write(`[${name}] ${line}\n`);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}`));
    });
  });
}

/**
 * CPU time (user + system) a process has used, in seconds, from
 * /proc/<pid>/stat (clock ticks of 1/100 s, the Linux default).
 */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : NaN;
}
