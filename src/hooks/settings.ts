/**
 * The hook flags of a role as plain data (the CLI fills them from
 * --hook-provider, --hook-module, --hook-option, --hook-timeout,
 * --hook-failure-policy and the provider flags); main-hooks.ts loads and
 * runs them.
 */
import type { HookFailurePolicy } from './policy.js';
import type { HookOptions } from './types.js';

/** Which hooks run and how. */
export interface HookSettings {
  /** Built-in providers by name, in order (--hook-provider). */
  providers: string[];
  /** User modules by path, in order, after the providers (--hook-module). */
  modules: string[];
  /** The provider flags and --hook-option values, by name. */
  options: HookOptions;
  /** --hook-timeout; 0 = no limit. */
  timeoutMs: number;
  /** --hook-failure-policy (agent); unset: pre-start fail, post-start retry. */
  failurePolicy?: HookFailurePolicy;
}

/** True when any provider or module is configured. */
export function hooksConfigured(s: HookSettings | undefined): s is HookSettings {
  return s !== undefined && (s.providers.length > 0 || s.modules.length > 0);
}
