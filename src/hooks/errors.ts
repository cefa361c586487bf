/**
 * Errors of the hook machinery, with stable codes. A failed hook run is
 * reported as ERR_HOOK_FAILED (the provider's error as `cause`, its text
 * in the message) or ERR_HOOK_TIMEOUT; loading problems stop the start
 * with ERR_HOOK_UNKNOWN_PROVIDER, ERR_HOOK_MODULE or ERR_HOOK_INVALID.
 */
import type { HookPhase } from './types.js';

/** Stable codes of HookError. */
export type HookErrorCode =
  /** --hook-provider names no built-in provider. */
  | 'ERR_HOOK_UNKNOWN_PROVIDER'
  /** A module could not be found or imported. */
  | 'ERR_HOOK_MODULE'
  /** A module's default export is not a provider (or a factory of one), or two providers share a name. */
  | 'ERR_HOOK_INVALID'
  /** A provider option is missing or malformed. */
  | 'ERR_HOOK_OPTIONS'
  /** A hook threw or rejected. */
  | 'ERR_HOOK_FAILED'
  /** A hook did not finish within --hook-timeout. */
  | 'ERR_HOOK_TIMEOUT'
  /** The process is stopping; the run was abandoned. */
  | 'ERR_HOOK_ABORTED'
  /** A provider could not read or report the managed cluster's credential. */
  | 'ERR_HOOK_CREDENTIAL';

/** An error of a hook, its loading or its run. */
export class HookError extends Error {
  readonly code: HookErrorCode;
  /** The provider concerned, when there is one. */
  readonly provider: string | undefined;
  /** The hook concerned, when it ran. */
  readonly phase: HookPhase | undefined;

  constructor(code: HookErrorCode, message: string, opts: { provider?: string; phase?: HookPhase; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HookError';
    this.code = code;
    this.provider = opts.provider;
    this.phase = opts.phase;
  }
}

/** The text of any thrown value, for logs and wrapping messages. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
