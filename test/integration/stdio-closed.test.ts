/**
 * The CLI when its stderr goes away (the reader of the pipe exited: `tunnel
 * … | head`, a dead log shipper, a killed parent). Before, the first log
 * line after that failed with EPIPE, the failure was logged to the same
 * pipe, and the process spun at full CPU with growing memory forever. Now
 * the role stops and the process exits 1, the reason in --log-file if there
 * is one; nothing is left running.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { type CliProc, startAgent, startServer, stopAll } from '../support/cli-procs.js';

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'stdio-closed-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});
afterEach(() => stopAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Exit code, or a rejection naming the process if it is still running after `ms`. */
function exitWithin(p: CliProc, ms: number): Promise<number | null> {
  return Promise.race([
    p.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${p.name} still running ${ms} ms after its stderr closed`)), ms).unref()),
  ]);
}

describe('stderr closed under a running server or agent', () => {
  it('server: the next log line stops it with exit code 1, and the reason goes to --log-file', async () => {
    const logFile = path.join(dir, 'server.log');
    const server = await startServer({
      pki,
      uds: path.join(dir, 'a.sock'),
      extra: ['--logtostderr=false', '--alsologtostderr=true', `--log-file=${logFile}`],
    });
    server.proc.child.stderr.destroy();
    // An agent connecting makes the server log a line, which meets the closed pipe.
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    expect(await exitWithin(server.proc, 15_000)).toBe(1);
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { message: string; error?: string });
    expect(lines).toContainEqual(expect.objectContaining({ message: 'stderr closed: stopping', error: 'EPIPE' }));
    // It stopped the way a SIGTERM stops it.
    expect(lines.at(-1)!.message).toBe('tunnel server stopped');
    // The agent, whose stderr is fine, saw the server go (during or after its handshake) and keeps running, retrying.
    await agent.proc.waitFor((l) => l.message === 'cannot connect to proxy server', 'a retry against the stopped server');
    expect(agent.proc.running).toBe(true);
  }, 40_000);

  it('agent: exits 1 instead of spinning once its next line fails', async () => {
    const server = await startServer({ pki, uds: path.join(dir, 'b.sock') });
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a', extra: ['--sync-interval=100ms'] });
    await agent.proc.waitFor((l) => l.message === 'connected to proxy server', 'connected');
    agent.proc.child.stderr.destroy();
    // Losing its server makes the agent log (and retry every 100 ms, logging each time).
    await server.proc.kill();
    expect(await exitWithin(agent.proc, 15_000)).toBe(1);
  }, 40_000);
});
