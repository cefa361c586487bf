/**
 * Flags of the hooks (ours, not upstream's): --hook-provider, --hook-module,
 * --hook-option, --hook-timeout on both roles, --hook-failure-policy and the
 * built-in providers' flags (HOOK_OPTION_SPECS) on the agent, and how they
 * land in HookSettings. Bad values are usage errors naming the flag.
 */
import {
  DEFAULT_HOOK_TIMEOUT_MS,
  HOOK_OPTION_SPECS,
  HookError,
  parseDurationOption,
  parseHookFailurePolicy,
  parseHookOptionPairs,
  parseNamespacedName,
} from '../hooks/index.js';
import type { HookSettings } from '../hooks/settings.js';
import type { FlagSpec } from './flag-spec.js';
import type { FlagValues } from './flag-values.js';
import { checkOneOf, requireFile } from './option-checks.js';
import { UsageError } from './usage-error.js';

const COMMON: readonly FlagSpec[] = [
  {
    name: 'hook-provider',
    kind: 'string',
    def: '',
    group: 'hooks',
    doc: 'A built-in hook provider to run: tkestack, tke or example (repeatable; they run in the order given, before the modules).',
  },
  {
    name: 'hook-module',
    kind: 'string',
    def: '',
    group: 'hooks',
    doc: 'Your own hook provider: the path of an ES module (relative to the working directory) whose default export is a provider or a function returning one (repeatable).',
  },
  {
    name: 'hook-option',
    kind: 'string',
    def: '',
    group: 'hooks',
    doc: 'KEY=VALUE handed to hook modules as ctx.options.KEY (repeatable; a later KEY wins).',
  },
  {
    name: 'hook-timeout',
    kind: 'duration',
    def: '30s',
    group: 'hooks',
    doc: 'How long one hook run may take; 0 means no limit.',
  },
];

export const SERVER_HOOK_FLAGS: readonly FlagSpec[] = COMMON.map((f) =>
  f.name === 'hook-provider' ? { ...f, doc: `${f.doc} On the server, agentConnected and agentDisconnected run when an agent comes and goes; their failures are only logged.` } : f,
);

export const AGENT_HOOK_FLAGS: readonly FlagSpec[] = [
  ...COMMON,
  {
    name: 'hook-failure-policy',
    kind: 'string',
    def: '',
    group: 'hooks',
    doc: 'What a failing hook does: fail (the agent exits 1 with the hook\'s message), ignore (logged, the agent goes on), retry (again with backoff until it works). Empty: pre-start hooks fail, post-start hooks retry.',
  },
  ...HOOK_OPTION_SPECS.map(
    (o): FlagSpec => ({ name: o.name, kind: 'string', def: o.def, group: 'hooks', doc: `${o.doc} (hook providers ${o.providers.join(', ')})` }),
  ),
];

/** Names of every hook flag of the role. */
export function hookFlagNames(role: 'server' | 'agent'): string[] {
  return (role === 'server' ? SERVER_HOOK_FLAGS : AGENT_HOOK_FLAGS).map((f) => f.name);
}

/** The role's hook settings. Provider flags are always present (their default when not given). */
export function hookSettingsFromFlags(values: FlagValues, role: 'server' | 'agent'): HookSettings {
  const modules = values.all('hook-module') ?? [];
  for (const m of modules) requireFile('hook-module', m);
  const options: Record<string, string> = {};
  if (role === 'agent') {
    for (const spec of HOOK_OPTION_SPECS) options[spec.name] = values.string(spec.name) ?? spec.def;
    checkProviderOptions(values);
  }
  Object.assign(options, usage(() => parseHookOptionPairs(values.all('hook-option') ?? [])));
  const policy = role === 'agent' ? (values.string('hook-failure-policy') ?? '') : '';
  return {
    providers: (values.all('hook-provider') ?? []).map((p) => p.trim()).filter((p) => p !== ''),
    modules,
    options,
    timeoutMs: values.duration('hook-timeout') ?? DEFAULT_HOOK_TIMEOUT_MS,
    ...(policy !== '' ? { failurePolicy: usage(() => parseHookFailurePolicy(policy)) } : {}),
  };
}

/** The values the built-in providers would refuse at start, refused now. */
function checkProviderOptions(values: FlagValues): void {
  const source = values.string('credential-token-source');
  if (source !== undefined) checkOneOf('credential-token-source', source, ['request', 'secret', 'file']);
  const sa = values.string('credential-service-account');
  if (sa !== undefined) usage(() => parseNamespacedName(sa, 'credential-service-account'));
  const ttl = values.string('credential-token-ttl');
  if (ttl !== undefined) {
    const ms = usage(() => parseDurationOption(ttl, 'credential-token-ttl'));
    if (ms < 600_000) throw new UsageError(`invalid value "${ttl}" for --credential-token-ttl: must be at least 10m`);
  }
}

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HookError) throw new UsageError(e.message);
    throw e;
  }
}
