/**
 * What happens when a hook fails (--hook-failure-policy): `fail` stops the
 * run (the agent exits), `ignore` logs and goes on with the next provider,
 * `retry` tries the same provider again with backoff until it succeeds or
 * the process stops. Unset, pre-start hooks fail and post-start hooks
 * retry; server hooks always ignore (they must never take the server down).
 */
import { HookError } from './errors.js';
import type { HookPhase } from './types.js';

/** A failure policy. */
export type HookFailurePolicy = 'fail' | 'ignore' | 'retry';

/** The values --hook-failure-policy accepts. */
export const HOOK_FAILURE_POLICIES: readonly HookFailurePolicy[] = ['fail', 'ignore', 'retry'];

/** Parses a --hook-failure-policy value; HookError ERR_HOOK_OPTIONS names the accepted ones. */
export function parseHookFailurePolicy(value: string): HookFailurePolicy {
  const v = value.trim().toLowerCase();
  if ((HOOK_FAILURE_POLICIES as readonly string[]).includes(v)) return v as HookFailurePolicy;
  throw new HookError(
    'ERR_HOOK_OPTIONS',
    `invalid value "${value}" for --hook-failure-policy: must be one of ${HOOK_FAILURE_POLICIES.join(', ')}`,
  );
}

/** The policy a phase runs with: the flag's when set (agent hooks), else the phase's default. */
export function failurePolicyFor(phase: HookPhase, flag?: HookFailurePolicy): HookFailurePolicy {
  if (phase === 'agentConnected' || phase === 'agentDisconnected') return 'ignore';
  if (flag) return flag;
  return phase === 'preStartTunnelAgent' ? 'fail' : 'retry';
}
