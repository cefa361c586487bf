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
  const logger = winston.createLogger({
    level: opts.level ?? 'info',
    silent: opts.silent ?? false,
    defaultMeta: opts.fields ?? {},
    format: fmt,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
  skipDisabledLevels(logger);
  return logger;
}

/**
 * winston formats (timestamp, JSON.stringify) every call and drops disabled
 * levels only at the transport, so each `log.debug(...)` on a busy path cost
 * a serialisation and a stream write at the default level. The level methods
 * now return at once when their level is off. Children made with `child()`
 * inherit the methods through their prototype, and the check reads the level
 * at call time, so changing `logger.level` later still works.
 */
function skipDisabledLevels(logger: winston.Logger): void {
  const methods = logger as unknown as Record<string, (...args: unknown[]) => winston.Logger>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: winston.Logger | undefined, ...args: unknown[]): winston.Logger {
      const self = this ?? logger;
      if (!self.isLevelEnabled(level)) return self;
      return write.apply(self, args);
    };
  }
}

const LEVEL_METHODS: ReadonlySet<string> = new Set(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']);

/**
 * A child logger for something there are thousands of (one per tunnelled
 * connection) that costs almost nothing until a line is written through it.
 * A winston child is an object made from its parent's prototype chain, and
 * nesting them (session, then dial id, then connection id) gave every
 * connection its own hidden classes: about 1.2 KiB of heap per idle tunnel.
 * Here `child()` only merges fields; the winston child is made, flat, on the
 * first line that passes the level. Everything else is forwarded to it.
 */
export function lazyChild(parent: Logger, fields: Record<string, unknown>): Logger {
  let real: Logger | undefined;
  const materialize = (): Logger => (real ??= parent.child(fields));
  const proxy: Logger = new Proxy({} as Logger, {
    get(_target, prop) {
      if (prop === 'child') return (more: Record<string, unknown>): Logger => lazyChild(parent, { ...fields, ...more });
      if (typeof prop === 'string' && LEVEL_METHODS.has(prop)) {
        return (...args: unknown[]): Logger => {
          if (!parent.isLevelEnabled(prop)) return proxy;
          (materialize() as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args);
          return proxy;
        };
      }
      const r = materialize();
      const v: unknown = Reflect.get(r, prop, r);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
    set(_target, prop, value) {
      return Reflect.set(materialize(), prop, value);
    },
  });
  return proxy;
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
