/**
 * The Dockerfile, read as a reviewer would (there is no Docker engine here):
 * Node 20 slim stages, production dependencies only in the final stage, only
 * the compiled code, proto and hooks copied in, a numeric non-root USER, an
 * exec-form ENTRYPOINT; .dockerignore keeps the context small.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../support/paths.js';
import { NODE_FLAGS } from '../../../src/cli/node-flags.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by stage. */
function stages(text: string): { args: Record<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  const globalArgs: Record<string, string> = {};
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      out.push({ from: f[1]!, ...(f[2] ? { name: f[2] } : {}), body: [] });
    } else if (out.length === 0 && op === 'ARG') {
      const [k, v] = args.split('=');
      globalArgs[k!] = v ?? '';
    } else {
      out.at(-1)!.body.push({ op, args });
    }
  }
  return { args: globalArgs, stages: out };
}

const text = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const parsed = stages(text);
const final = parsed.stages.at(-1)!;
const resolve = (image: string) => image.replace(/\$\{?(\w+)\}?/g, (_, k: string) => parsed.args[k] ?? '');
const ops = (s: Stage, op: string) => s.body.filter((i) => i.op === op).map((i) => i.args);

describe('Dockerfile', () => {
  it('builds every stage on a Node 20 slim image', () => {
    expect(parsed.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of parsed.stages) {
      const image = resolve(s.from);
      // Stages may also start from an earlier stage.
      if (parsed.stages.some((o) => o.name === s.from)) continue;
      expect(image).toMatch(/^node:20[.\d]*-(bookworm|bullseye|trixie)-slim(@sha256:[0-9a-f]{64})?$/);
    }
  });

  it('compiles in a build stage with npm ci and npm run build', () => {
    const build = parsed.stages.find((s) => ops(s, 'RUN').some((r) => r.includes('npm run build')))!;
    expect(build).toBeDefined();
    expect(build).not.toBe(final);
    expect(ops(build, 'RUN').some((r) => /npm ci(?!.*--omit=dev)/.test(r))).toBe(true);
  });

  it('installs production dependencies only (--omit=dev) for the final image', () => {
    const fromStages = ops(final, 'COPY')
      .map((c) => /--from=(\S+)\s+(\S+)/.exec(c))
      .filter((m): m is RegExpExecArray => m !== null);
    const modules = fromStages.find((m) => m[2]!.endsWith('node_modules'));
    const source = modules ? parsed.stages.find((s) => s.name === modules[1]) : final;
    expect(ops(source!, 'RUN').some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(ops(final, 'RUN').some((r) => /npm (ci|install)(?!.*--omit=dev)/.test(r))).toBe(false);
  });

  it('copies only the compiled code, proto, hooks, node_modules and package files into the final image', () => {
    const sources = ops(final, 'COPY').flatMap((c) => {
      const parts = c.replace(/--\S+\s+/g, '').split(/\s+/);
      return parts.slice(0, -1);
    });
    for (const s of sources) {
      expect(s).toMatch(/(^|\/)(node_modules|dist\/src|dist\/hooks|proto|hooks|package\.json|package-lock\.json)$/);
    }
    expect(sources.some((s) => s.endsWith('dist/src'))).toBe(true);
    expect(sources.some((s) => /(^|\/)src$/.test(s) && !s.endsWith('dist/src'))).toBe(false);
  });

  it('runs as a numeric non-root user', () => {
    const users = ops(final, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // Nothing after USER switches back to root.
    const afterUser = final.body.slice(final.body.findIndex((i) => i.op === 'USER' && i.args === user) + 1);
    expect(afterUser.some((i) => i.op === 'RUN')).toBe(false);
  });

  it('starts the CLI with an exec-form ENTRYPOINT', () => {
    const entry = ops(final, 'ENTRYPOINT').at(-1)!;
    const argv = JSON.parse(entry) as string[];
    expect(argv).toEqual(['node', ...NODE_FLAGS, '/app/dist/src/main.js']);
    expect(ops(final, 'CMD')).toEqual([]);
  });

  it('leaves compilers and package managers out of the final image', () => {
    const runs = ops(final, 'RUN').join('\n');
    expect(runs).not.toMatch(/apt-get install|build-essential|g\+\+|python3|make\b/);
    expect(runs).toMatch(/rm -rf[^\n]*\/usr\/local\/lib\/node_modules\/npm/);
  });

  it('labels the image', () => {
    const labels = ops(final, 'LABEL').join(' ');
    for (const key of ['title', 'version', 'source', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });
});

describe('.dockerignore', () => {
  const ignore = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('keeps dependencies, build output, git and test results out of the context', () => {
    for (const p of ['node_modules', 'dist', '.build', '.git', 'coverage', 'test-results']) expect(ignore).toContain(p);
  });

  it('does not exclude what the build needs', () => {
    for (const p of ['src', 'proto', 'hooks', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignore).not.toContain(p);
      expect(existsSync(path.join(repoRoot, p)) || p === 'hooks').toBe(true);
    }
  });
});
