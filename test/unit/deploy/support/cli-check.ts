/**
 * Runs a container's command line from the deploy files through the real CLI
 * parser (src/cli/parse.ts), so a manifest can never pass a flag the binary
 * does not know or a value it refuses. Absolute paths (certificates, tokens,
 * the Unix socket) are mapped into a temporary directory with placeholder
 * files, because the parser checks that files exist.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommandLine, roleFlags, type Role } from '../../../../src/cli/parse.js';
import type { Container } from './deploy-files.js';

/**
 * Flags of features that are being built (issue #8): the deploy files use
 * them only where those features are switched on (commented out in the plain
 * manifests; chart values certs.source=csr, pull*, hookProvider). Until the
 * CLI knows one, the check sets it aside instead of parsing it.
 */
export const FUTURE_FLAGS: Readonly<Record<Role, readonly string[]>> = {
  server: [],
  agent: [],
};

/** Flags whose value is a directory or a socket to create, not a file that must exist. */
const NOT_FILES = new Set(['uds-name', 'cert-dir']);

export interface CliCheck {
  role: Role;
  /** The parser's refusal, if any. */
  error?: string;
  /** Future flags that were set aside because the CLI does not know them yet. */
  setAside: string[];
  /** Flags neither the CLI nor FUTURE_FLAGS knows (always a mistake). */
  unknown: string[];
}

export class CliSandbox {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'deploy-cli-'));

  /** Parses a container's args as the binary would at start (env from the container's plain values). */
  check(container: Container): CliCheck {
    const args = [...(container.command?.slice(1) ?? []), ...(container.args ?? [])];
    const mode = args.find((a) => a.startsWith('--mode='))?.slice('--mode='.length);
    const role: Role = mode === 'agent' ? 'agent' : 'server';
    const known = new Set(roleFlags(role).map((f) => f.name));
    const setAside: string[] = [];
    const mapped: string[] = [];
    const unknown = args
      .map((a) => /^--([a-z0-9-]+)/.exec(a)?.[1] ?? a)
      .filter((name) => !known.has(name) && !FUTURE_FLAGS[role].includes(name));
    for (const arg of args) {
      const m = /^--([a-z0-9-]+)=(.*)$/s.exec(arg);
      if (m && !known.has(m[1]!) && FUTURE_FLAGS[role].includes(m[1]!)) {
        setAside.push(m[1]!);
        continue;
      }
      if (m && m[2]!.startsWith('/')) {
        const local = path.join(this.dir, m[2]!);
        mkdirSync(path.dirname(local), { recursive: true });
        if (!NOT_FILES.has(m[1]!) && !existsSync(local)) writeFileSync(local, 'placeholder\n');
        mapped.push(`--${m[1]}=${local}`);
        continue;
      }
      mapped.push(arg);
    }
    const env: NodeJS.ProcessEnv = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    for (const e of container.env ?? []) env[e.name] = e.value ?? (e.valueFrom ? 'from-downward-api' : '');
    try {
      const cmd = parseCommandLine(mapped, env);
      if (cmd.mode !== role) return { role, error: `parsed as ${cmd.mode}, expected ${role}`, setAside, unknown };
      return { role, setAside, unknown };
    } catch (err) {
      return { role, error: err instanceof Error ? err.message : String(err), setAside, unknown };
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
