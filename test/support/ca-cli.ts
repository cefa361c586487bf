/** Runs `tunnel ca ...` of this build as a child process (one-shot: waits for the exit). */
import { spawn } from 'node:child_process';
import { cliPath } from './paths.js';

/** Exit code and output of one run. */
export interface CaRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node <build>/src/main.js ca <args>`, with an environment of PATH plus `env` (no in-cluster variables). */
export function runCa(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CaRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cliPath, 'ca', ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
