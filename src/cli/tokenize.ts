/**
 * Splits a command line into flag occurrences with pflag's rules, before
 * yargs sees it: `--flag value` and `--flag=value`; a bool flag never takes
 * the next word (`--sync-forever` alone means true); a single dash works too
 * (`-v=4`, `-logtostderr`); klog's underscore spellings (`--log_file`) are
 * read as dashes. Unknown names are reported by the caller, which knows the
 * mode.
 */
import type { FlagSpec } from './flag-spec.js';
import { UsageError } from './usage-error.js';

/** One flag as given. */
export interface FlagToken {
  /** Canonical long name. */
  name: string;
  /** The value text; for a bare bool flag, 'true'. */
  value: string;
  /** As written, for messages (`--log_file`, `-v`). */
  written: string;
}

/** A name the tables do not know, as written. */
export interface UnknownToken {
  name: string;
  written: string;
}

export interface Tokenized {
  flags: FlagToken[];
  unknown: UnknownToken[];
}

/**
 * Tokenizes argv (without node and script). `known` maps long names and
 * one-letter aliases to their spec. Positional words are refused: neither
 * binary takes any.
 */
export function tokenize(argv: readonly string[], known: ReadonlyMap<string, FlagSpec>): Tokenized {
  const flags: FlagToken[] = [];
  const unknown: UnknownToken[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      if (i + 1 < argv.length) throw positional(argv[i + 1]!, argv[i - 1]);
      break;
    }
    if (!word.startsWith('-') || word === '-') throw positional(word, argv[i - 1]);
    const body = word.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const rawName = eq >= 0 ? body.slice(0, eq) : body;
    const name = rawName.replace(/_/g, '-');
    const written = word.slice(0, word.length - body.length) + rawName;
    const spec = known.get(name);
    if (!spec || name === '') {
      unknown.push({ name, written });
      if (eq < 0 && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) i++; // skip its probable value
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new UsageError(`flag ${written} needs a value (${spec.kind}), e.g. ${written}=${example(spec)}`);
    flags.push({ name: spec.name, value, written });
  }
  return { flags, unknown };
}

function positional(word: string, previous: string | undefined): UsageError {
  const hint =
    previous !== undefined && previous.startsWith('-') && !previous.includes('=')
      ? ` (a bool flag takes no separate value: write ${previous}=${word})`
      : '';
  return new UsageError(`unexpected argument "${word}": tunnel takes flags only${hint}`);
}

function example(spec: FlagSpec): string {
  switch (spec.kind) {
    case 'duration':
      return spec.def !== '' && spec.def !== '0s' ? spec.def : '30s';
    case 'int':
    case 'float':
      return spec.def !== '' ? spec.def : '1';
    default:
      return spec.def !== '' ? spec.def : '<value>';
  }
}
