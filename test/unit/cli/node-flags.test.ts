/**
 * The V8 flags of src/cli/node-flags.ts: the entry point starts anywhere
 * (a plain `#!/usr/bin/env node`, no `env -S` that BusyBox lacks), and a
 * server or agent started without the flags says so, with the fix. The
 * Dockerfile's ENTRYPOINT is checked in test/unit/deploy/dockerfile.test.ts;
 * the CLI tests, demo and benchmarks spawn with NODE_FLAGS.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { missingNodeFlags, NODE_FLAGS } from '../../../src/cli/node-flags.js';
import { startCli, stopAll } from '../../support/cli-procs.js';
import { cliPath, repoRoot } from '../../support/paths.js';

const firstLine = (file: string): string => readFileSync(file, 'utf8').split('\n', 1)[0]!;
const NOTICE = 'running without the Node flags the image sets; expect more memory per idle tunnel and slower bulk transfers';

afterEach(() => stopAll());

describe('Node flags of the tunnel binary', () => {
  it('caps the young generation (memory per tunnel) and starts the old generation at 64 MiB (GC during bulk data)', () => {
    expect(NODE_FLAGS).toEqual(['--max-semi-space-size=4', '--initial-old-space-size=64']);
  });

  it('the entry point has a portable shebang, in the source and built', () => {
    expect(firstLine(path.join(repoRoot, 'src', 'main.ts'))).toBe('#!/usr/bin/env node');
    expect(firstLine(cliPath)).toBe('#!/usr/bin/env node');
  });

  it('the built main.js runs as an executable through its shebang', async () => {
    const mode = statSync(cliPath).mode;
    if ((mode & 0o100) === 0) chmodSync(cliPath, mode | 0o755); // npm sets this when it links the bin
    const { stdout } = await promisify(execFile)(cliPath, ['--version'], { timeout: 20_000 });
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toContain(pkg.version);
  });

  it('missingNodeFlags: set on the command line or in NODE_OPTIONS (any value, - or _) counts', () => {
    expect(missingNodeFlags([], undefined)).toEqual(['--max-semi-space-size=4', '--initial-old-space-size=64']);
    expect(missingNodeFlags(['--max-semi-space-size=4', '--initial-old-space-size=64'], undefined)).toEqual([]);
    expect(missingNodeFlags(['--inspect', '--initial_old_space_size=128'], '--max-old-space-size=512 --max_semi_space_size=8')).toEqual([]);
    expect(missingNodeFlags(['--max-old-space-size=512'], '--max-semi-space-size=4')).toEqual(['--initial-old-space-size=64']);
  });

  const agentArgs = ['--mode=agent', '--proxy-server-host=127.0.0.1', '--proxy-server-port=1', '--health-server-port=0', '--admin-server-port=0'];

  it('an agent started without them logs which are missing and the command that sets them; with them, nothing', async () => {
    const without = startCli('agent', agentArgs, { NODE_OPTIONS: '' }, []);
    const bare = await without.waitFor((l) => l.message === NOTICE, 'the missing-flags notice');
    expect(bare).toMatchObject({ level: 'info', missing: '--max-semi-space-size=4 --initial-old-space-size=64' });
    expect(bare['fix']).toBe(
      `start it as: node --max-semi-space-size=4 --initial-old-space-size=64 ${cliPath} ... (Node does not take --initial-old-space-size from NODE_OPTIONS)`,
    );
    await without.kill();

    // The semi-space flag from NODE_OPTIONS counts; the other is still named.
    const half = startCli('agent', agentArgs, { NODE_OPTIONS: '--max-semi-space-size=4' }, []);
    expect(await half.waitFor((l) => l.message === NOTICE, 'the missing-flags notice')).toMatchObject({ missing: '--initial-old-space-size=64' });
    await half.kill();

    // The fix as logged: both on node's command line.
    const fixed = startCli('agent', agentArgs, { NODE_OPTIONS: '' }, NODE_FLAGS);
    await fixed.listening();
    expect(fixed.lines.filter((l) => l.message === NOTICE)).toEqual([]);
  }, 40_000);
});
