/** Placeholder files for flags that must name existing files (the CLI checks existence only). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FlagFiles {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  kubeconfig: string;
  token: string;
  remove(): void;
}

export function makeFlagFiles(): FlagFiles {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-cli-'));
  const f = (name: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, `placeholder ${name}\n`);
    return p;
  };
  return {
    dir,
    ca: f('ca.crt'),
    cert: f('tls.crt'),
    key: f('tls.key'),
    kubeconfig: f('kubeconfig'),
    token: f('token'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
