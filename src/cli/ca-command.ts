/**
 * `tunnel ca <status|stage|promote|prune> [flags]`: the command line of the
 * tunnel CA rotation (ca-run.ts runs it). A subcommand rather than a third
 * --mode: --mode selects a long-running role whose flags are upstream's,
 * while this is a one-shot operator command with an action word, its own
 * few flags, and no logging set-up. The flag names and defaults that it
 * shares with the server (--kubeconfig, --namespace) are the server's.
 */
import { DEFAULT_CERT_NAMESPACE, requireKube } from './cert-flags.js';
import { type FlagSpec, indexFlags } from './flag-spec.js';
import { FlagValues } from './flag-values.js';
import { caHelp } from './help.js';
import { checkOneOf, requireFile } from './option-checks.js';
import { closest } from './suggest.js';
import { tokenize } from './tokenize.js';
import { UsageError } from './usage-error.js';

/** The actions of `tunnel ca`. */
export const CA_ACTIONS = ['status', 'stage', 'promote', 'prune'] as const;
export type CaAction = (typeof CA_ACTIONS)[number];

/** `tunnel ca <action> ...` */
export interface CaCommand {
  mode: 'ca';
  action: CaAction;
  /** '' = in-cluster configuration. */
  kubeconfig: string;
  namespace: string;
  output: 'text' | 'json';
  /** prune: also drop retired CAs that have not expired. */
  includeUnexpired: boolean;
}

/** Flags of `tunnel ca`. */
export const CA_FLAGS: readonly FlagSpec[] = [
  { name: 'help', short: 'h', kind: 'bool', def: 'false', group: 'ca', doc: 'Print this help and exit.' },
  {
    name: 'kubeconfig',
    kind: 'string',
    def: '',
    group: 'ca',
    doc: 'Kubeconfig of the meta cluster (the server\'s --kubeconfig or an operator\'s); empty means the in-cluster configuration, e.g. `kubectl exec` into a server pod. Needs get and update on the Secret tunnel-ca.',
  },
  {
    name: 'namespace',
    kind: 'string',
    def: DEFAULT_CERT_NAMESPACE,
    group: 'ca',
    doc: 'Namespace of the CA Secret tunnel-ca: the server\'s --namespace.',
  },
  { name: 'output', short: 'o', kind: 'string', def: 'text', group: 'ca', doc: 'text, or json (one object on stdout).' },
  {
    name: 'include-unexpired',
    kind: 'bool',
    def: 'false',
    group: 'ca',
    doc: 'prune: also drop retired CAs that have not expired yet. Only once no certificate they signed is in use: one --cert-lifetime after the promotion at most (agents renew at 70-90 % of it).',
  },
];

/**
 * Parses the words after `tunnel ca`.
 * @throws UsageError (exit code 2)
 */
export function parseCaCommand(argv: readonly string[], env: NodeJS.ProcessEnv): CaCommand | { mode: 'help'; text: string } {
  const specs = indexFlags(CA_FLAGS);
  // The one action word may stand anywhere; a string flag written `--flag value` takes the next word.
  const words: string[] = [];
  const flagArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w.startsWith('-') && w !== '-' && w !== '--') {
      flagArgs.push(w);
      const name = w.replace(/^--?/, '').replace(/_/g, '-');
      const spec = specs.get(name);
      if (spec && spec.kind !== 'bool' && i + 1 < argv.length) flagArgs.push(argv[++i]!);
    } else if (w !== '--') words.push(w);
  }
  const { flags, unknown } = tokenize(flagArgs, specs);
  const help = flags.some((f) => f.name === 'help' && f.value !== 'false');
  if (help) return { mode: 'help', text: caHelp(CA_FLAGS) };
  if (unknown.length > 0) {
    const near = closest(
      unknown[0]!.name,
      CA_FLAGS.map((f) => f.name),
    );
    throw new UsageError(`unknown flag ${unknown[0]!.written} for tunnel ca${near ? ` (did you mean --${near}?)` : ''}; see tunnel ca --help`);
  }
  if (words.length === 0) throw new UsageError(`missing action: tunnel ca ${CA_ACTIONS.join('|')} (see tunnel ca --help)`);
  if (words.length > 1) throw new UsageError(`one action expected after ca, got ${words.map((w) => `"${w}"`).join(' ')} (see tunnel ca --help)`);
  const action = words[0]!;
  if (!(CA_ACTIONS as readonly string[]).includes(action)) {
    const near = closest(action, [...CA_ACTIONS]);
    throw new UsageError(`unknown action "${action}" for tunnel ca: expected ${CA_ACTIONS.join(', ')}${near ? `; did you mean ${near}?` : ''}`);
  }
  const raw = new Map<string, string[]>();
  for (const f of flags) raw.set(f.name, [...(raw.get(f.name) ?? []), f.value]);
  const values = new FlagValues(new Map(CA_FLAGS.map((f) => [f.name, f])), raw);
  values.checkAll();
  const output = values.string('output') ?? 'text';
  checkOneOf('output', output, ['text', 'json']);
  const namespace = values.string('namespace') ?? DEFAULT_CERT_NAMESPACE;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new UsageError(`invalid value "${namespace}" for --namespace: expected a Kubernetes name (lower-case letters, digits and '-')`);
  }
  const includeUnexpired = values.bool('include-unexpired') ?? false;
  if (includeUnexpired && action !== 'prune') throw new UsageError(`--include-unexpired is a flag of tunnel ca prune, not of tunnel ca ${action}`);
  const kubeconfig = values.string('kubeconfig') ?? '';
  requireFile('kubeconfig', kubeconfig);
  requireKube(kubeconfig, env, `ca ${action} reads the CA Secret through the Kubernetes API`);
  return { mode: 'ca', action: action as CaAction, kubeconfig, namespace, output: output as 'text' | 'json', includeUnexpired };
}
