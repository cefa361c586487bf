/**
 * Provider options: the flags of the built-in providers (a table the CLI
 * registers), the generic `--hook-option=KEY=VALUE` for user modules, and
 * the parsers providers use on the values. Bad values are HookError
 * ERR_HOOK_OPTIONS naming the flag.
 */
import {
  DEFAULT_CREDENTIAL_NAMESPACE,
  DEFAULT_CREDENTIAL_SERVICE_ACCOUNT,
  DEFAULT_CREDENTIAL_TOKEN_FILE,
} from './defaults.js';
import { HookError } from './errors.js';
import type { HookOptions } from './types.js';

/** One provider flag: name without dashes, default as shown in --help ('' = none), doc. */
export interface HookOptionSpec {
  readonly name: string;
  readonly def: string;
  readonly doc: string;
  /** The providers that read it. */
  readonly providers: readonly string[];
}

/** The flags of the built-in providers; the CLI passes their values (when set) in HookOptions under these names. */
export const HOOK_OPTION_SPECS: readonly HookOptionSpec[] = [
  {
    name: 'credential-service-account',
    def: DEFAULT_CREDENTIAL_SERVICE_ACCOUNT,
    doc: 'NAMESPACE/NAME of the managed-cluster ServiceAccount whose credential is reported to the meta cluster.',
    providers: ['tkestack', 'tke'],
  },
  {
    name: 'credential-token-source',
    def: 'request',
    doc: "Where that ServiceAccount's token comes from: request (a TokenRequest, renewed at 80 % of its lifetime), secret (its kubernetes.io/service-account-token Secret, watched), file (a token file, re-read every minute).",
    providers: ['tkestack', 'tke'],
  },
  {
    name: 'credential-token-ttl',
    def: '1h',
    doc: 'Lifetime asked for in each TokenRequest (at least 10m).',
    providers: ['tkestack', 'tke'],
  },
  {
    name: 'credential-token-secret',
    def: '',
    doc: 'Name of the token Secret in the ServiceAccount\'s namespace (source secret). Empty: "<service-account-name>-token".',
    providers: ['tkestack', 'tke'],
  },
  {
    name: 'credential-token-file',
    def: DEFAULT_CREDENTIAL_TOKEN_FILE,
    doc: 'Token file (source file); the CA is read from ca.crt beside it, else from the kubeconfig.',
    providers: ['tkestack', 'tke'],
  },
  {
    name: 'credential-namespace',
    def: DEFAULT_CREDENTIAL_NAMESPACE,
    doc: 'Meta-cluster namespace of the "<cluster-name>-credential" Secrets.',
    providers: ['tke'],
  },
  {
    name: 'credential-server',
    def: 'https://{cluster-name}:443',
    doc: 'The apiserver address stored with the credential, as the meta cluster reaches it through the tunnel; {cluster-name} is replaced.',
    providers: ['tke'],
  },
];

/**
 * Parses `--hook-option` values (`KEY=VALUE`, repeatable; a later KEY
 * wins) into options for user modules.
 */
export function parseHookOptionPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (key === '') throw new HookError('ERR_HOOK_OPTIONS', `invalid value "${pair}" for --hook-option: must be KEY=VALUE`);
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

/** The option's value, or `def` when unset or empty. */
export function optionOr(options: HookOptions, name: string, def: string): string {
  const v = options[name];
  return v === undefined || v.trim() === '' ? def : v.trim();
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration (`90s`, `1h30m`, `500ms`) into ms; throws ERR_HOOK_OPTIONS naming `--flag`. */
export function parseDurationOption(value: string, flag: string): number {
  const s = value.trim();
  const bad = (): HookError =>
    new HookError('ERR_HOOK_OPTIONS', `invalid value "${value}" for --${flag}: must be a duration such as 30m or 1h`);
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (s === '' || consumed !== s.length) throw bad();
  return Math.round(total);
}

/** Parses `NAMESPACE/NAME`; throws ERR_HOOK_OPTIONS naming `--flag`. */
export function parseNamespacedName(value: string, flag: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value.trim());
  if (!m) throw new HookError('ERR_HOOK_OPTIONS', `invalid value "${value}" for --${flag}: must be NAMESPACE/NAME`);
  return { namespace: m[1]!, name: m[3]! };
}
