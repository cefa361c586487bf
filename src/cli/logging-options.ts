/**
 * Logging settings from our flags (--log-level, --log-format) and the klog
 * flags upstream manifests pass (-v, --logtostderr, --alsologtostderr,
 * --log-file, --log-file-max-size, --stderrthreshold).
 */
import type { FlagValues } from './flag-values.js';
import { UsageError } from './usage-error.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Where and how the process logs. */
export interface LoggingOptions {
  /** Lines below this level are dropped. */
  level: LogLevel;
  format: LogFormat;
  /** Lines at or above this level go to stderr; 'none' = nothing to stderr. Default: every line. */
  stderrLevel: LogLevel | 'none';
  /** A log file (klog --log-file with --logtostderr=false); maxSizeBytes 0 = never rotated. */
  file?: { path: string; maxSizeBytes: number };
}

/** klog severities for --stderrthreshold, as numbers and names. */
const SEVERITIES: ReadonlyArray<{ names: string[]; level: LogLevel }> = [
  { names: ['0', 'INFO'], level: 'debug' },
  { names: ['1', 'WARNING'], level: 'warn' },
  { names: ['2', 'ERROR'], level: 'error' },
  // Our fatal lines (start failures) are logged at error.
  { names: ['3', 'FATAL'], level: 'error' },
];

/** Builds the logging options; notes about flags that change nothing go to `warnings`. */
export function loggingOptions(values: FlagValues, warnings: string[]): LoggingOptions {
  const opts: LoggingOptions = { level: 'info', format: 'json', stderrLevel: 'debug' };

  const verbosity = values.int('v');
  if (verbosity !== undefined) {
    if (verbosity < 0) throw new UsageError(`invalid value "${verbosity}" for -v: expected 0 or more`);
    opts.level = verbosity >= 2 ? 'debug' : 'info';
  }
  const level = values.string('log-level');
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new UsageError(`invalid value "${level}" for --log-level: expected one of ${LOG_LEVELS.join(', ')}`);
    }
    opts.level = level as LogLevel;
  }
  const format = values.string('log-format');
  if (format !== undefined) {
    if (!(LOG_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`invalid value "${format}" for --log-format: expected one of ${LOG_FORMATS.join(', ')}`);
    }
    opts.format = format as LogFormat;
  }

  const threshold = stderrThreshold(values.string('stderrthreshold'));
  const maxSizeMb = values.int('log-file-max-size') ?? 1800;
  if (maxSizeMb < 0) throw new UsageError(`invalid value "${maxSizeMb}" for --log-file-max-size: expected 0 or more (MB)`);
  const file = values.string('log-file') ?? '';
  const toStderr = values.bool('logtostderr') ?? true;
  const also = values.bool('alsologtostderr') ?? false;

  if (toStderr) {
    if (file !== '') warnings.push('flag --log-file has no effect with --logtostderr=true (the default); add --logtostderr=false to write the file');
  } else if (file === '') {
    warnings.push('flag --logtostderr=false has no effect without --log-file; logging to stderr');
  } else {
    opts.file = { path: file, maxSizeBytes: maxSizeMb * 1024 * 1024 };
    opts.stderrLevel = also ? 'debug' : threshold;
  }
  return opts;
}

function stderrThreshold(text: string | undefined): LogLevel {
  if (text === undefined) return 'error';
  const found = SEVERITIES.find((s) => s.names.includes(text.trim().toUpperCase()));
  if (!found) {
    throw new UsageError(`invalid value "${text}" for --stderrthreshold: expected INFO, WARNING, ERROR or FATAL (or 0-3)`);
  }
  return found.level;
}
