/**
 * One clear line for a role that failed to start: which flag's port or path
 * could not be used and why, instead of a bare errno.
 */

/** A listener of the role, as configured. */
export interface ListenerFlag {
  flag: string;
  port?: number;
  path?: string;
  /** Words the role's own errors use for this listener (e.g. 'agent port'). */
  mentions?: string;
  /** Certificate flags whose files this listener (or connection) loads. */
  tlsFlags?: string[];
}

/** OpenSSL and Node texts of an unusable certificate or key. */
const TLS_FILE_ERROR = /PEM routines|no start line|ASN1|key values mismatch|bad decrypt|private key|certificate/i;

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
  if (code === undefined) return TLS_FILE_ERROR.test(message) ? describeTlsError(message, listeners) : message;

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

function describeTlsError(message: string, listeners: readonly ListenerFlag[]): string {
  const withTls = listeners.filter((l) => l.tlsFlags && l.tlsFlags.length > 0);
  const l = withTls.find((x) => x.mentions && message.includes(x.mentions)) ?? withTls.find((x) => !x.mentions);
  if (!l || l.tlsFlags!.some((f) => message.includes(`--${f}`))) return message;
  const flags = l.tlsFlags!.map((f) => `--${f}`).join(', ');
  return `cannot use the files of ${flags} (PEM expected, and the key must match the certificate): ${message}`;
}
