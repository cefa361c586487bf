/**
 * Loading providers at start: `--hook-provider=NAME` for the built-in
 * providers of the top-level hooks/ folder (compiled to
 * dist/hooks/NAME/index.js, found relative to this file), then
 * `--hook-module=PATH` for a user's ES module. An unknown name, a missing
 * module or one that exports no provider stops the start with a HookError
 * whose message says what is wrong and lists the known providers.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from '../observability/logger.js';
import { errorText, HookError } from './errors.js';
import { providerFromModule } from './shape.js';
import { AGENT_HOOK_PHASES, SERVER_HOOK_PHASES, type HookOptions, type HookProvider, type HookRole } from './types.js';

/** Where the compiled built-in providers are: `<build>/hooks`, beside `<build>/src`. */
export const BUILT_IN_HOOKS_DIR = fileURLToPath(new URL('../../hooks/', import.meta.url));

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Options of loadHookProviders. */
export interface LoadHookProvidersOptions {
  /** agent or server: passed to factories; providers without a hook of the role are warned about. */
  role: HookRole;
  /** --hook-provider values, in order. */
  providers?: readonly string[];
  /** --hook-module values, in order; they run after the built-in providers. */
  modules?: readonly string[];
  /** The providers' options, given to factories. */
  options?: HookOptions;
  logger: Logger;
  /** Folder of the built-in providers; default BUILT_IN_HOOKS_DIR. */
  hooksDir?: string;
  /** Base of relative --hook-module paths; default process.cwd(). */
  cwd?: string;
}

/** Names of the built-in providers (folders with an index.js), sorted. */
export function listBuiltInProviders(hooksDir = BUILT_IN_HOOKS_DIR): string[] {
  if (!existsSync(hooksDir)) return [];
  return readdirSync(hooksDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && NAME_RE.test(d.name) && existsSync(path.join(hooksDir, d.name, 'index.js')))
    .map((d) => d.name)
    .sort();
}

/** Loads every requested provider, built-ins first, each in the order given. */
export async function loadHookProviders(opts: LoadHookProvidersOptions): Promise<HookProvider[]> {
  const hooksDir = opts.hooksDir ?? BUILT_IN_HOOKS_DIR;
  const known = listBuiltInProviders(hooksDir);
  const out: HookProvider[] = [];
  const add = (p: HookProvider, where: string): void => {
    if (out.some((o) => o.name === p.name)) {
      throw new HookError('ERR_HOOK_INVALID', `${where}: a hook provider named "${p.name}" is already loaded; names must be unique`, {
        provider: p.name,
      });
    }
    const phases = opts.role === 'agent' ? AGENT_HOOK_PHASES : SERVER_HOOK_PHASES;
    if (!phases.some((ph) => typeof p[ph] === 'function')) {
      opts.logger.warn('hook provider has no hooks for this role', { hook: p.name, role: opts.role });
    }
    out.push(p);
  };

  for (const name of opts.providers ?? []) {
    if (!NAME_RE.test(name) || !known.includes(name)) {
      const list = known.length > 0 ? known.join(', ') : `none (no providers under ${hooksDir})`;
      throw new HookError('ERR_HOOK_UNKNOWN_PROVIDER', `unknown hook provider "${name}" (--hook-provider); known providers: ${list}`);
    }
    const where = `hook provider "${name}"`;
    const ns = await importModule(path.join(hooksDir, name, 'index.js'), where);
    add(await providerFromModule(ns, init(opts, name), where), where);
  }

  for (const given of opts.modules ?? []) {
    const file = path.resolve(opts.cwd ?? process.cwd(), given);
    const where = `hook module ${file} (--hook-module)`;
    if (!existsSync(file)) throw new HookError('ERR_HOOK_MODULE', `${where}: no such file`);
    const ns = await importModule(file, where);
    add(await providerFromModule(ns, init(opts, path.basename(file)), where), where);
  }
  for (const p of out) opts.logger.info('hook provider loaded', { hook: p.name, role: opts.role });
  return out;
}

function init(opts: LoadHookProvidersOptions, name: string): { role: HookRole; options: HookOptions; logger: Logger } {
  return { role: opts.role, options: opts.options ?? {}, logger: opts.logger.child({ hook: name }) };
}

async function importModule(file: string, where: string): Promise<unknown> {
  try {
    return (await import(pathToFileURL(file).href)) as unknown;
  } catch (err) {
    throw new HookError('ERR_HOOK_MODULE', `${where}: cannot be loaded: ${errorText(err)}`, { cause: err });
  }
}
