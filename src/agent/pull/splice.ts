/**
 * Joins a local socket and a pull connection until either side is done,
 * bytes flowing both ways with backpressure (pipe). The protocol has no
 * half-close: when one side ends, the other is ended too (flushing what it
 * holds) and destroyed after PULL_TIMING.spliceLingerMs at the latest; an
 * error on one side destroys the other at once.
 */
import type { Duplex } from 'node:stream';
import { PULL_TIMING } from './defaults.js';

/** Pipes `local` and `remote` into each other; `head` (bytes already read from local) goes first. */
export function splice(local: Duplex, remote: Duplex, head?: Buffer): void {
  if (head && head.length > 0) remote.write(head);
  local.pipe(remote);
  remote.pipe(local);
  local.on('error', () => remote.destroy());
  remote.on('error', () => local.destroy());
  local.once('close', () => endGently(remote));
  remote.once('close', () => endGently(local));
}

function endGently(s: Duplex): void {
  if (s.destroyed) return;
  if (!s.writableEnded) s.end();
  const t = setTimeout(() => s.destroy(), PULL_TIMING.spliceLingerMs);
  t.unref();
  s.once('close', () => clearTimeout(t));
}
