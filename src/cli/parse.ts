/**
 * The command line of `tunnel`: argv and env in, a typed command out (a role
 * with its config, or help/version text), or a UsageError. Pure apart from
 * checking that named files exist: no role is imported or started here.
 */
import yargs from 'yargs';
import type { AgentConfig } from '../agent/config.js';
import type { ServerConfig } from '../server/config.js';
import { AGENT_FLAGS } from './agent-flags.js';
import { parseCaCommand, type CaCommand } from './ca-command.js';
import { agentConfigFromFlags } from './agent-options.js';
import { COMMON_FLAGS } from './common-flags.js';
import { type FlagSpec, indexFlags } from './flag-spec.js';
import { FlagValues } from './flag-values.js';
import { parseGoBool } from './go-values.js';
import { generalHelp, modeHelp } from './help.js';
import { loggingOptions, type LoggingOptions } from './logging-options.js';
import { NOT_YET_IMPLEMENTED } from './not-yet.js';
import { SERVER_FLAGS } from './server-flags.js';
import { serverConfigFromFlags, type OptionReport } from './server-options.js';
import { closest } from './suggest.js';
import { tokenize, type FlagToken, type UnknownToken } from './tokenize.js';
import { UsageError } from './usage-error.js';
import { packageVersion } from './version.js';

export type Role = 'server' | 'agent';

/** Lines main.ts logs once at start: warnings (flags without effect) and notices. */
export interface StartNotes {
  warnings: string[];
  notices: string[];
}

/** `tunnel --mode=server ...` */
export interface ServerCommand extends StartNotes {
  mode: 'server';
  config: ServerConfig;
  logging: LoggingOptions;
}

/** `tunnel --mode=agent ...` */
export interface AgentCommand extends StartNotes {
  mode: 'agent';
  config: AgentConfig;
  logging: LoggingOptions;
}

/** `--help`: print `text` on stdout, exit 0. */
export interface HelpCommand {
  mode: 'help';
  text: string;
}

/** `--version`: print `text` on stdout, exit 0. */
export interface VersionCommand {
  mode: 'version';
  text: string;
}

export type ParsedCommand = ServerCommand | AgentCommand | HelpCommand | VersionCommand | CaCommand;

/** --mode values, and the role each selects. */
const MODES: Readonly<Record<string, Role>> = {
  server: 'server',
  agent: 'agent',
  grpc: 'server',
  'http-connect': 'server',
};

/** Every flag of a role: the shared ones first, then the role's table. */
export function roleFlags(role: Role): FlagSpec[] {
  return [...COMMON_FLAGS, ...(role === 'server' ? SERVER_FLAGS : AGENT_FLAGS)];
}

/**
 * Parses `argv` (without node and the script) for `tunnel`.
 * @throws UsageError (exit code 2) with a message naming the flag and what is expected
 */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): ParsedCommand {
  // `tunnel ca <action>`: the one subcommand (ca-command.ts says why it is not a --mode).
  if (argv[0] === 'ca') return parseCaCommand(argv.slice(1), env);
  const { flags, unknown } = tokenize(argv, indexFlags([...COMMON_FLAGS, ...SERVER_FLAGS, ...AGENT_FLAGS]));
  const modeText = lastValue(flags, 'mode');
  const role = modeText === undefined ? undefined : roleOf(modeText);

  if (flags.some((f) => f.name === 'help' && isTrue(f))) {
    return { mode: 'help', text: role ? modeHelp(role, roleFlags(role), NOT_YET_IMPLEMENTED[role]) : generalHelp(COMMON_FLAGS) };
  }
  if (unknown.length > 0) throw unknownFlag(unknown[0]!, role);
  if (flags.some((f) => f.name === 'version' && isTrue(f))) {
    return { mode: 'version', text: `tunnel ${packageVersion()}` };
  }
  if (role === undefined) {
    throw new UsageError('missing --mode: pass --mode=server (in the meta cluster) or --mode=agent (in a managed cluster)');
  }

  const specs = indexFlags(roleFlags(role));
  for (const f of flags) {
    if (!specs.has(f.name)) {
      throw new UsageError(`flag ${f.written} is ${role === 'server' ? 'an agent' : 'a server'} flag; it is not accepted with --mode=${role}`);
    }
  }
  const values = new FlagValues(longNames(specs), collect(flags, specs));
  values.checkAll();

  const report: OptionReport = { warnings: [], notices: [] };
  const logging = loggingOptions(values, report.warnings);
  const warnings = noEffectWarnings(values, role, specs);
  if (role === 'server') {
    const config = serverConfigFromFlags(values, modeText!, env, report);
    return { mode: 'server', config, logging, warnings: [...warnings, ...report.warnings], notices: report.notices };
  }
  const config = agentConfigFromFlags(values, env, report);
  return { mode: 'agent', config, logging, warnings: [...warnings, ...report.warnings], notices: report.notices };
}

function roleOf(modeText: string): Role {
  const role = MODES[modeText];
  if (role === undefined) {
    const near = closest(modeText, Object.keys(MODES));
    throw new UsageError(
      `invalid value "${modeText}" for --mode: expected server or agent (grpc and http-connect mean server)${near ? `; did you mean --mode=${near}?` : ''}`,
    );
  }
  return role;
}

function unknownFlag(u: UnknownToken, role: Role | undefined): UsageError {
  const candidates = role ? roleFlags(role) : [...COMMON_FLAGS, ...SERVER_FLAGS, ...AGENT_FLAGS];
  const near = closest(
    u.name,
    candidates.map((f) => f.name),
  );
  const help = role ? `tunnel --mode=${role} --help` : 'tunnel --help';
  return new UsageError(`unknown flag ${u.written}${near ? ` (did you mean --${near}?)` : ''}; see ${help}`);
}

/** The given flags, through yargs (strict: nothing but the role's flags), as name → values in order. */
function collect(tokens: readonly FlagToken[], specs: ReadonlyMap<string, FlagSpec>): Map<string, string[]> {
  let parser = yargs(tokens.map((t) => `--${t.name}=${t.value}`))
    .parserConfiguration({
      'camel-case-expansion': false,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'boolean-negation': false,
      'duplicate-arguments-array': true,
      'short-option-groups': false,
      'greedy-arrays': false,
    })
    .exitProcess(false)
    .help(false)
    .version(false)
    .strict()
    .fail((msg: string | null, err: Error | undefined) => {
      throw err ?? new UsageError(msg ?? 'invalid command line');
    });
  for (const name of longNames(specs).keys()) parser = parser.option(name, { type: 'string' });
  const parsed = parser.parseSync() as Record<string, unknown>;
  const out = new Map<string, string[]>();
  for (const name of longNames(specs).keys()) {
    const v = parsed[name];
    if (v === undefined) continue;
    out.set(name, Array.isArray(v) ? v.map(String) : [String(v)]);
  }
  return out;
}

/** `flag --X has no effect yet` for features not landed, `has no effect (...)` for compatibility-only flags. */
function noEffectWarnings(values: FlagValues, role: Role, specs: ReadonlyMap<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (const name of values.given()) {
    const spec = specs.get(name)!;
    if (NOT_YET_IMPLEMENTED[role].includes(name)) out.push(`flag --${name} has no effect yet`);
    else if (spec.ignored) out.push(`flag --${name} has no effect (${spec.ignored})`);
  }
  return out;
}

/** The map without one-letter aliases that differ from the long name. */
function longNames(specs: ReadonlyMap<string, FlagSpec>): Map<string, FlagSpec> {
  return new Map([...specs].filter(([k, f]) => k === f.name));
}

function lastValue(flags: readonly FlagToken[], name: string): string | undefined {
  let v: string | undefined;
  for (const f of flags) if (f.name === name) v = f.value;
  return v;
}

function isTrue(f: FlagToken): boolean {
  try {
    return parseGoBool(f.value);
  } catch {
    throw new UsageError(`invalid value "${f.value}" for ${f.written}: expected true or false`);
  }
}
