import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CA_FLAGS } from '../../../src/cli/ca-command.js';
import { flagsMarkdown, updateReadmeFlags } from '../../../src/cli/flags-markdown.js';
import { roleFlags } from '../../../src/cli/parse.js';
import { repoRoot } from '../../support/paths.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

describe('README flag reference', () => {
  it('lists every flag of both roles, and of tunnel ca', () => {
    for (const role of ['server', 'agent'] as const) {
      for (const f of roleFlags(role)) expect(flagsMarkdown(role)).toContain(`\`--${f.name}`);
    }
    for (const f of CA_FLAGS) expect(flagsMarkdown('ca')).toContain(`\`--${f.name}`);
  });

  it('is current with the flag tables (run `npm run docs` after changing a flag)', () => {
    expect(updateReadmeFlags(readme)).toBe(readme);
  });

  it('starts with the two set-up commands', () => {
    const lines = readme.split('\n');
    expect(lines[0]).toBe('```sh');
    expect(lines[1]).toMatch(/^npm ci && npm run demo\b/);
    expect(lines[2]).toMatch(/^npm ci && npm test\b/);
  });
});
