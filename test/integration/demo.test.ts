/**
 * `npm run demo`, the README's first command, as a new user runs it: the
 * built demo (dev CA, server, agent and target on localhost) fetches through
 * the tunnel three ways, stops its server and agent, removes its folder and
 * exits 0; Ctrl-C (SIGINT) part-way leaves nothing running either. It used
 * to send the agent its two SIGTERMs back to back, which can arrive as one:
 * the agent only drained and the demo waited for it forever.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildRoot } from '../support/paths.js';

const demoScript = path.join(buildRoot, 'src', 'demo', 'run.js');

interface DemoRun {
  out: string[];
  /** Kills the demo and whatever it left running (by pid), and closes the pipes. */
  cleanUp(): void;
  exited: Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
  /** Resolves when a line of the demo's output contains `text`. */
  printed(text: string): Promise<void>;
}

function runDemo(): DemoRun {
  const child = spawn(process.execPath, [demoScript], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  let buf = '';
  const onData = (chunk: string): void => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      out.push(line);
      for (const w of waiters.filter((x) => line.includes(x.text))) w.resolve();
    }
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timeout));
  return {
    out,
    cleanUp: () => {
      child.kill('SIGKILL');
      const m = /certificates in (\S+)/.exec(out.join('\n'));
      if (m) for (const pid of processesMentioning(m[1]!)) process.kill(pid, 'SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
    },
    exited,
    signal: (sig) => child.kill(sig),
    printed: (text) => (out.some((l) => l.includes(text)) ? Promise.resolve() : new Promise((r) => waiters.push({ text, resolve: r }))),
  };
}

/** The demo's folder, from its first line. */
function demoDir(out: string[]): string {
  const m = /certificates in (\S+)/.exec(out.join('\n'));
  if (!m) throw new Error(`no folder in the demo's output:\n${out.join('\n')}`);
  return m[1]!;
}

/** Pids of processes whose command line mentions `text` (the demo's children name files in its folder). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

const runs: DemoRun[] = [];
afterEach(() => {
  for (const r of runs.splice(0)) r.cleanUp();
});

describe('npm run demo (the built demo script)', () => {
  it('fetches through the tunnel three ways, then stops everything and exits 0', async () => {
    const run = runDemo();
    runs.push(run);
    const code = await run.exited;
    const text = run.out.join('\n');
    expect({ code, text }).toEqual({ code: 0, text: expect.stringContaining('stopping') as unknown });
    expect(text).toMatch(/over the Unix socket \(gRPC\): +GET \/ → 200 hello from the managed cluster/);
    expect(text).toMatch(/over mTLS TCP \(gRPC\): +GET \/tcp → 200 hello from the managed cluster/);
    expect(text).toMatch(/over HTTP CONNECT \(UDS\): +200 Connection Established → HTTP\/1\.1 200 OK hello/);
    expect(text).not.toMatch(/FAILED|did not stop/);
    const dir = demoDir(run.out);
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 70_000);

  it('Ctrl-C while it runs stops the server and agent it started and removes its folder', async () => {
    const run = runDemo();
    runs.push(run);
    await run.printed('server up');
    run.signal('SIGINT');
    const code = await run.exited;
    expect(code).toBe(130);
    const dir = demoDir(run.out);
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 70_000);
});
