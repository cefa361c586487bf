/**
 * The credential options shared by the `tkestack` and `tke` providers,
 * parsed from HookOptions (see HOOK_OPTION_SPECS); a bad value is HookError
 * ERR_HOOK_OPTIONS naming the flag, raised when the provider is loaded.
 */
import {
  DEFAULT_CREDENTIAL_SERVICE_ACCOUNT,
  DEFAULT_CREDENTIAL_TOKEN_FILE,
  DEFAULT_CREDENTIAL_TOKEN_TTL_MS,
  MIN_CREDENTIAL_TOKEN_TTL_MS,
} from '../defaults.js';
import { HookError } from '../errors.js';
import { optionOr, parseDurationOption, parseNamespacedName } from '../options.js';
import type { HookOptions } from '../types.js';

/** Where the token comes from. */
export type TokenSourceKind = 'request' | 'secret' | 'file';

/** Parsed credential options. */
export interface CredentialOptions {
  source: TokenSourceKind;
  /** The ServiceAccount whose credential is reported. */
  serviceAccount: { namespace: string; name: string };
  /** The token Secret's name, in the ServiceAccount's namespace (source secret). */
  tokenSecret: string;
  /** The token file (source file). */
  tokenFile: string;
  /** Lifetime asked for in TokenRequests (source request). */
  tokenTtlMs: number;
}

const SOURCES: readonly TokenSourceKind[] = ['request', 'secret', 'file'];

/** Parses the credential options. */
export function parseCredentialOptions(options: HookOptions): CredentialOptions {
  const serviceAccount = parseNamespacedName(
    optionOr(options, 'credential-service-account', DEFAULT_CREDENTIAL_SERVICE_ACCOUNT),
    'credential-service-account',
  );
  const source = optionOr(options, 'credential-token-source', 'request') as TokenSourceKind;
  if (!SOURCES.includes(source)) {
    throw new HookError(
      'ERR_HOOK_OPTIONS',
      `invalid value "${options['credential-token-source']}" for --credential-token-source: must be one of ${SOURCES.join(', ')}`,
    );
  }
  const ttl = options['credential-token-ttl'];
  const tokenTtlMs = ttl === undefined || ttl.trim() === '' ? DEFAULT_CREDENTIAL_TOKEN_TTL_MS : parseDurationOption(ttl, 'credential-token-ttl');
  if (tokenTtlMs < MIN_CREDENTIAL_TOKEN_TTL_MS) {
    throw new HookError('ERR_HOOK_OPTIONS', `invalid value "${ttl}" for --credential-token-ttl: must be at least 10m (the API's minimum)`);
  }
  return {
    source,
    serviceAccount,
    tokenSecret: optionOr(options, 'credential-token-secret', `${serviceAccount.name}-token`),
    tokenFile: optionOr(options, 'credential-token-file', DEFAULT_CREDENTIAL_TOKEN_FILE),
    tokenTtlMs,
  };
}
