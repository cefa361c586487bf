/**
 * Checks what a hook module exports: a provider object (a name and at
 * least one hook method) or a factory function that returns one. Anything
 * else is HookError ERR_HOOK_INVALID saying what was expected.
 */
import { errorText, HookError } from './errors.js';
import { HOOK_PHASES, type HookProvider, type HookProviderInit } from './types.js';

const EXPECTED = `a provider object with a "name" and at least one of ${HOOK_PHASES.join(', ')}, or a factory function returning one`;

/** Returns `value` as a provider, or throws ERR_HOOK_INVALID naming `where` (e.g. `hook module /x.js`). */
export function asHookProvider(value: unknown, where: string): HookProvider {
  if (value === null || typeof value !== 'object') {
    throw new HookError('ERR_HOOK_INVALID', `${where}: expected ${EXPECTED}, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name.trim() === '') {
    throw new HookError('ERR_HOOK_INVALID', `${where}: the provider has no "name" (a non-empty string); expected ${EXPECTED}`);
  }
  for (const phase of HOOK_PHASES) {
    if (v[phase] !== undefined && typeof v[phase] !== 'function') {
      throw new HookError('ERR_HOOK_INVALID', `${where}: "${phase}" of provider "${v.name}" is ${describe(v[phase])}, not a function`, {
        provider: v.name,
      });
    }
  }
  if (!HOOK_PHASES.some((p) => typeof v[p] === 'function')) {
    throw new HookError('ERR_HOOK_INVALID', `${where}: provider "${v.name}" has none of ${HOOK_PHASES.join(', ')}`, { provider: v.name });
  }
  return value as HookProvider;
}

/**
 * Turns a module's namespace into a provider: its default export is a
 * provider, or a factory called with `init`. A factory's HookError (e.g.
 * ERR_HOOK_OPTIONS for a bad option) passes through unchanged.
 */
export async function providerFromModule(namespace: unknown, init: HookProviderInit, where: string): Promise<HookProvider> {
  const exported = (namespace as { default?: unknown } | null)?.default;
  if (exported === undefined) {
    throw new HookError('ERR_HOOK_INVALID', `${where}: has no default export; expected ${EXPECTED}`);
  }
  if (typeof exported !== 'function') return asHookProvider(exported, where);
  let built: unknown;
  try {
    built = await (exported as (init: HookProviderInit) => unknown)(init);
  } catch (err) {
    if (err instanceof HookError) throw err;
    throw new HookError('ERR_HOOK_INVALID', `${where}: its factory failed: ${errorText(err)}`, { cause: err });
  }
  return asHookProvider(built, `${where}: its factory's result`);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
