/**
 * What the server and agent do when their stdout or stderr goes away: the
 * reader of a pipe exited (`tunnel … | head`, a log shipper that died, the
 * parent of a child process killed). Node reports the broken pipe (EPIPE)
 * as an 'error' event on the stream. Unhandled, it became an uncaught
 * exception whose log line went to the same closed pipe, failed again, and
 * the process spun at full CPU with its memory growing, never exiting.
 *
 * Now the first such error turns console logging off (the other transports,
 * a --log-file, still get the reason), stops the role, and exits 1, as a Go
 * binary ends on SIGPIPE; later errors are ignored. If stopping hangs, the
 * process exits anyway after `forceExitMs`.
 */
import winston from 'winston';
import type { Logger } from '../observability/logger.js';

export interface StdioGuardOptions {
  /** The streams to watch, by name (stdout, stderr). */
  streams: Record<string, NodeJS.EventEmitter>;
  logger: Logger;
  /** Stops the running role (or nothing, before it started). */
  stop: () => Promise<void>;
  exit: (code: number) => void;
  /** Exit without waiting for `stop` after this long. Default 10 s. */
  forceExitMs?: number;
  /** For tests: the hard exit. Default process.exit. */
  hardExit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them. */
export function guardStdio(opts: StdioGuardOptions): () => void {
  let tripped = false;
  const listeners: [NodeJS.EventEmitter, (err: Error) => void][] = [];
  for (const [name, stream] of Object.entries(opts.streams)) {
    const onError = (err: Error & { code?: string }): void => {
      if (tripped) return;
      tripped = true;
      for (const t of opts.logger.transports) if (t instanceof winston.transports.Console) t.silent = true;
      opts.logger.error(`${name} closed: stopping`, { error: err.code ?? err.message });
      const force = setTimeout(() => (opts.hardExit ?? process.exit)(1), opts.forceExitMs ?? 10_000);
      force.unref();
      void opts
        .stop()
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(force);
          opts.exit(1);
        });
    };
    stream.on('error', onError);
    listeners.push([stream, onError]);
  }
  return () => {
    for (const [stream, onError] of listeners) stream.removeListener('error', onError);
  };
}
