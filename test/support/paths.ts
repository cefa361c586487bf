/** Locations in the repository, found from the compiled test file wherever it was built. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'proto'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The repository root (holds package.json and proto/). */
export const repoRoot = findRoot();

/** The compiled output folder this test runs from (dist/ or .build/<name>/). */
export const buildRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The compiled CLI entry point of this build. */
export const cliPath = path.join(buildRoot, 'src', 'main.js');

export const fixture = (name: string): string => path.join(repoRoot, 'test', 'fixtures', name);
