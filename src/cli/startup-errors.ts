/**
 * One clear line for a role that failed to start: which flag's port or path
 * could not be used and why, instead of a bare errno.
 */

/** A listener of the role, as configured. */
export interface ListenerFlag {
  flag: string;
  port?: number;
  path?: string;
}

const CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use (another process listens there: stop it or choose another port)',
  EACCES: 'permission denied (ports below 1024 need privileges; a socket path needs a writable directory)',
  EADDRNOTAVAIL: 'the bind address is not an address of this host',
  ENOENT: 'no such directory',
};

/** Describes a start failure; names the flag when the error points at one of `listeners`. */
export function describeStartupError(err: unknown, listeners: readonly ListenerFlag[]): string {
  const e = (err ?? {}) as { message?: unknown; code?: unknown; port?: unknown; address?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code =
    typeof e.code === 'string' && CAUSES[e.code] !== undefined
      ? e.code
      : Object.keys(CAUSES).find((c) => new RegExp(`\\b${c}\\b`).test(message));
  if (code === undefined) return message;

  const byPath = listeners.find((l) => l.path && message.includes(l.path));
  const port = typeof e.port === 'number' ? e.port : lastPort(message);
  const byPort = port !== undefined && port !== 0 ? listeners.find((l) => l.port === port) : undefined;
  const where = byPath
    ? `--${byPath.flag} ${byPath.path}`
    : byPort
      ? `--${byPort.flag} ${port}`
      : port !== undefined
        ? `port ${port}`
        : 'a listener';
  return `cannot listen on ${where}: ${CAUSES[code]}; ${message}`;
}

function lastPort(message: string): number | undefined {
  const all = [...message.matchAll(/:(\d{1,5})\b/g)];
  const last = all[all.length - 1];
  return last ? Number(last[1]) : undefined;
}
