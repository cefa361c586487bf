/**
 * The V8 flags of src/cli/node-flags.ts reach every way `tunnel` starts:
 * the shebang of the source and of the built entry point (what `tunnel` on
 * PATH runs), and the built file runs through that shebang. The Dockerfile's
 * ENTRYPOINT is checked in test/unit/deploy/dockerfile.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../../src/cli/node-flags.js';
import { cliPath, repoRoot } from '../../support/paths.js';

const shebang = `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`;
const firstLine = (file: string): string => readFileSync(file, 'utf8').split('\n', 1)[0]!;

describe('Node flags of the tunnel binary', () => {
  it('caps the young generation (the memory-per-tunnel setting)', () => {
    expect(NODE_FLAGS).toContain('--max-semi-space-size=4');
  });

  it('are in the shebang of src/main.ts and of the built main.js', () => {
    expect(firstLine(path.join(repoRoot, 'src', 'main.ts'))).toBe(shebang);
    expect(firstLine(cliPath)).toBe(shebang);
  });

  it('the built main.js runs as an executable through its shebang', async () => {
    const mode = statSync(cliPath).mode;
    if ((mode & 0o100) === 0) chmodSync(cliPath, mode | 0o755); // npm sets this when it links the bin
    const { stdout } = await promisify(execFile)(cliPath, ['--version'], { timeout: 20_000 });
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toContain(pkg.version);
  });
});
