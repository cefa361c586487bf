/**
 * Structured logging with winston: JSON lines on stderr by default, one
 * child logger per agent, server or connection with fixed keys
 * (agentID, serverID, connectID, dialID). Nothing is logged per packet at
 * info level.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** error | warn | info | debug. */
  level?: string;
  /** json (default) or text (human-readable, used by the demo). */
  format?: 'json' | 'text';
  /** Fixed fields on every line, e.g. { role: 'server' }. */
  fields?: Record<string, unknown>;
  /** Discard everything (tests that do not look at logs). */
  silent?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const fmt =
    opts.format === 'text'
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf((info) => {
            const { level, message, timestamp, ...rest } = info;
            const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest, bigintSafe) : '';
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), bigintJson());
  return winston.createLogger({
    level: opts.level ?? 'info',
    silent: opts.silent ?? false,
    defaultMeta: opts.fields ?? {},
    format: fmt,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

/** A logger that drops everything; for unit tests. */
export function silentLogger(): Logger {
  return createLogger({ silent: true });
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** JSON format that writes bigint ids as decimal strings. */
function bigintJson(): winston.Logform.Format {
  return winston.format.printf((info) => JSON.stringify(info, bigintSafe));
}
