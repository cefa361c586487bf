/**
 * The flags given on one command line, read with their Go types. Every read
 * error names the flag and says what is expected.
 */
import type { FlagSpec } from './flag-spec.js';
import { parseGoBool, parseGoDuration, parseGoFloat, parseGoInt, parseGoList } from './go-values.js';
import { UsageError } from './usage-error.js';

export class FlagValues {
  /**
   * @param specs every flag of the mode, by long name
   * @param raw each given flag's values in order (repeats kept)
   */
  constructor(
    private readonly specs: ReadonlyMap<string, FlagSpec>,
    private readonly raw: ReadonlyMap<string, readonly string[]>,
  ) {}

  /** Whether the flag was given (whatever its value). */
  has(name: string): boolean {
    return this.raw.has(name);
  }

  /** Names of the given flags, in table order. */
  given(): string[] {
    return [...this.specs.keys()].filter((n) => this.raw.has(n));
  }

  /** Reads every given flag once, so a malformed value is refused even when nothing uses it. */
  checkAll(): void {
    for (const name of this.given()) {
      const spec = this.specs.get(name)!;
      if (spec.kind === 'list') this.list(name);
      else if (spec.kind === 'int') this.int(name);
      else if (spec.kind === 'float') this.float(name);
      else if (spec.kind === 'duration') this.duration(name);
      else if (spec.kind === 'bool') this.bool(name);
    }
  }

  /** The last value given (pflag: the last one wins). */
  string(name: string): string | undefined {
    const v = this.raw.get(name);
    return v === undefined ? undefined : v[v.length - 1];
  }

  int(name: string): number | undefined {
    return this.read(name, parseGoInt);
  }

  float(name: string): number | undefined {
    return this.read(name, parseGoFloat);
  }

  bool(name: string): boolean | undefined {
    return this.read(name, parseGoBool);
  }

  /** Milliseconds. Negative durations are refused. */
  duration(name: string): number | undefined {
    const ms = this.read(name, parseGoDuration);
    if (ms !== undefined && ms < 0) {
      throw new UsageError(`invalid value "${this.string(name)}" for --${name}: must not be negative`);
    }
    return ms;
  }

  /** Every occurrence as given, not split (repeatable flags whose values hold commas, e.g. --pull-allow). */
  all(name: string): string[] | undefined {
    const v = this.raw.get(name);
    return v === undefined ? undefined : [...v];
  }

  /** Every occurrence, each split on commas (pflag StringSlice: repeats append). */
  list(name: string): string[] | undefined {
    const v = this.raw.get(name);
    return v === undefined ? undefined : v.flatMap(parseGoList);
  }

  private read<T>(name: string, parse: (text: string) => T): T | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch (e) {
      throw new UsageError(`invalid value "${text}" for --${name}: ${(e as Error).message}`);
    }
  }
}
