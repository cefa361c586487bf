/**
 * Two-phase shutdown on SIGTERM/SIGINT.
 * Server: the first signal stops it (gracefully, within
 * --graceful-shutdown-timeout) and exits 0; a second exits 1 at once.
 * Agent: the first signal drains (servers are told to send no new dials,
 * open connections continue); the second stops it and exits 0; a third exits
 * 1 at once.
 */
import type { Logger } from '../observability/logger.js';

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';
const SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT'];

/** Where signals come from: `process`, or an EventEmitter in tests. */
export interface SignalSource {
  on(event: ShutdownSignal, listener: (signal: ShutdownSignal) => void): unknown;
  removeListener(event: ShutdownSignal, listener: (signal: ShutdownSignal) => void): unknown;
}

interface Common {
  source: SignalSource;
  logger: Logger;
  /** Ends the process with this code. */
  exit: (code: number) => void;
}

/** Installs the server's handlers; returns a function that removes them. */
export function handleServerSignals(opts: Common & { shutdown: () => Promise<void> }): () => void {
  const { logger, exit } = opts;
  let received = 0;
  return listen(opts.source, (signal) => {
    received++;
    if (received === 1) {
      logger.info('shutting down; a second signal exits at once', { signal });
      opts.shutdown().then(
        () => exit(0),
        (err: unknown) => {
          logger.error('shutdown failed', { signal, error: (err as Error).message });
          exit(1);
        },
      );
    } else {
      logger.warn('second signal: exiting at once', { signal });
      exit(1);
    }
  });
}

/** Installs the agent's handlers; returns a function that removes them. */
export function handleAgentSignals(opts: Common & { drain: () => void; stop: () => Promise<void> }): () => void {
  const { logger, exit } = opts;
  let received = 0;
  return listen(opts.source, (signal) => {
    received++;
    if (received === 1) {
      logger.info(
        'draining: servers are told to send no new dials, open connections continue; a second SIGTERM or SIGINT stops the agent',
        { signal },
      );
      try {
        opts.drain();
      } catch (err) {
        logger.error('drain failed', { signal, error: (err as Error).message });
      }
    } else if (received === 2) {
      logger.info('stopping', { signal });
      opts.stop().then(
        () => exit(0),
        (err: unknown) => {
          logger.error('stop failed', { signal, error: (err as Error).message });
          exit(1);
        },
      );
    } else {
      logger.warn('third signal: exiting at once', { signal });
      exit(1);
    }
  });
}

function listen(source: SignalSource, onSignal: (signal: ShutdownSignal) => void): () => void {
  const handlers = SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) source.on(sig, h);
  return () => {
    for (const [sig, h] of handlers) source.removeListener(sig, h);
  };
}
