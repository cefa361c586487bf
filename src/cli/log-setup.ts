/**
 * The process logger from the logging options: JSON (or text) lines on
 * stderr, optionally a log file (klog's --log-file with --logtostderr=false)
 * with stderr limited to a threshold.
 */
import winston from 'winston';
import { createLogger, type Logger } from '../observability/logger.js';
import type { LoggingOptions } from './logging-options.js';

export interface ProcessLogger {
  logger: Logger;
  /** Flushes a log file before the process exits (no-op without one). */
  close(): Promise<void>;
}

export function createProcessLogger(opts: LoggingOptions, fields: Record<string, unknown>): ProcessLogger {
  const logger = createLogger({ level: opts.level, format: opts.format, fields });
  for (const t of logger.transports) {
    if (!(t instanceof winston.transports.Console)) continue;
    if (opts.stderrLevel === 'none') t.silent = true;
    else if (opts.stderrLevel !== 'debug') t.level = opts.stderrLevel;
  }
  if (!opts.file) return { logger, close: () => Promise.resolve() };

  logger.add(
    new winston.transports.File({
      filename: opts.file.path,
      ...(opts.file.maxSizeBytes > 0 ? { maxsize: opts.file.maxSizeBytes, maxFiles: 5, tailable: true } : {}),
    }),
  );
  return {
    logger,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        timer.unref();
        logger.once('finish', () => {
          clearTimeout(timer);
          resolve();
        });
        logger.end();
      }),
  };
}
