/**
 * Hooks through the real CLI: a pre-start hook that throws stops the agent
 * (exit 1, the hook's message in the log) before it connects; a post-start
 * hook runs once the first server connection is up; the built-in example
 * provider, loaded by name, logs on the server when an agent connects.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { eventually, startAgent, startCli, startServer, stopAll } from '../support/cli-procs.js';

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wiring-hooks-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});
afterEach(() => stopAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeModule(name: string, source: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return file;
}

describe('agent hooks', () => {
  it('a pre-start hook that throws makes the agent exit 1 with the hook\'s message, before it connects', async () => {
    const gate = writeModule(
      'gate.mjs',
      `export default { name: 'gate', preStartTunnelAgent() { throw new Error('cluster cls-x is not registered with the platform'); } };\n`,
    );
    const agent = startCli('agent', [
      '--mode=agent',
      '--proxy-server-host=127.0.0.1',
      '--proxy-server-port=1',
      `--hook-module=${gate}`,
      '--health-server-port=0',
      '--admin-server-port=0',
    ]);
    expect(await agent.exited).toBe(1);
    const errors = agent.lines.filter((l) => l.level === 'error');
    expect(errors[errors.length - 1]).toMatchObject({
      message: 'PreStartTunnelAgent hook "gate" failed: cluster cls-x is not registered with the platform',
      code: 'ERR_HOOK_FAILED',
    });
    expect(agent.lines.some((l) => l.message === 'listening')).toBe(false);
    expect(agent.lines.some((l) => l.message === 'cannot connect to proxy server')).toBe(false);
  }, 30_000);

  it('a post-start hook runs once the first server connection is up, with the cluster name and options', async () => {
    const server = await startServer({ pki, uds: path.join(dir, 'post.sock') });
    const out = path.join(dir, 'post-start.out');
    const hook = writeModule(
      'report.mjs',
      `import { writeFileSync } from 'node:fs';
export default function create(init) {
  return {
    name: 'report',
    postStartTunnelAgent(ctx) { writeFileSync(ctx.options.out, ctx.clusterName + ' ' + ctx.agentID); },
  };
}
`,
    );
    await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a', extra: [`--hook-module=${hook}`, `--hook-option=out=${out}`] });
    await eventually(() => Promise.resolve(existsSync(out)), (x) => x, 'the post-start hook wrote its file');
    expect(readFileSync(out, 'utf8')).toBe('cluster-a cluster-a');
  }, 30_000);
});

describe('server hooks', () => {
  it('the example provider, loaded by name, logs when an agent connects', async () => {
    const server = await startServer({ pki, uds: path.join(dir, 'example.sock'), extra: ['--hook-provider=example'] });
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a', extra: ['--hook-provider=example'] });
    const line = await server.proc.waitFor((l) => l.message === 'example hook: agent connected', 'the example hook on the server');
    expect(line['agentID']).toBe('cluster-a');
    expect(line['identifiers']).toEqual({ host: ['cluster-a'] });
    const start = agent.proc.lines.find((l) => l.message === 'example hook: agent starting');
    expect(start?.['clusterName']).toBe('cluster-a');
  }, 30_000);

  it('a module\'s agentDisconnected runs when the agent goes away', async () => {
    const hook = writeModule(
      'presence.mjs',
      `export default { name: 'presence', agentDisconnected(ctx) { ctx.logger.info('presence: agent left', { agentID: ctx.agentID }); } };\n`,
    );
    const server = await startServer({ pki, uds: path.join(dir, 'presence.sock'), extra: [`--hook-module=${hook}`] });
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a' });
    await server.proc.waitFor((l) => l.message === 'agent connected', 'the agent');
    await agent.proc.kill();
    const line = await server.proc.waitFor((l) => l.message === 'presence: agent left', 'the agentDisconnected hook');
    expect(line['agentID']).toBe('cluster-a');
  }, 30_000);

  it('an unknown provider name stops the server, listing the known ones', async () => {
    const server = startCli('server', [
      '--mode=server',
      `--uds-name=${path.join(dir, 'unknown.sock')}`,
      '--agent-port=0',
      '--health-port=0',
      '--admin-port=0',
      `--cluster-cert=${pki.serverCert}`,
      `--cluster-key=${pki.serverKey}`,
      '--hook-provider=exampel',
    ]);
    expect(await server.exited).toBe(1);
    expect(server.lines.find((l) => l.level === 'error')?.message).toMatch(/unknown hook provider "exampel" \(--hook-provider\); known providers: .*example/);
  }, 30_000);
});
