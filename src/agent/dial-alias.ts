/**
 * Host aliases for endpoint dials (beyond upstream; --dial-alias): a dial to
 * `name:port` whose host is an alias goes to `target:port`. With
 * `--agent-identifiers=host=<cluster>` and the destHost strategy, the meta
 * cluster reaches this cluster's apiserver as `<cluster>:443`, mapped here to
 * wherever it really is (e.g. kubernetes.default.svc).
 */
import type { EndpointDialer } from './dialer.js';
import { HostPortError, joinHostPort, splitHostPort } from './host-port.js';

/** Parses `name=target` entries (each may hold several, comma-separated). Throws Error naming the bad entry. */
export function parseDialAliases(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries.flatMap((e) => e.split(','))) {
    const text = entry.trim();
    if (text === '') continue;
    const eq = text.indexOf('=');
    const name = eq < 0 ? '' : text.slice(0, eq).trim();
    const target = eq < 0 ? '' : text.slice(eq + 1).trim();
    if (name === '' || target === '') throw new Error(`"${text}" is not name=host`);
    if (name.includes(':') || /[\s/]/.test(name)) throw new Error(`"${text}": the alias "${name}" must be a bare host name`);
    if (/[\s/]/.test(target)) throw new Error(`"${text}": "${target}" is not a host`);
    out[name.toLowerCase()] = target;
  }
  return out;
}

/** The address a dial really goes to: the alias target with the requested port, or the address unchanged. */
export function resolveAlias(address: string, aliases: Readonly<Record<string, string>>): string {
  let hp: { host: string; port: string };
  try {
    hp = splitHostPort(address);
  } catch (e) {
    if (e instanceof HostPortError) return address; // the dialer reports it in Go's words
    throw e;
  }
  const target = aliases[hp.host.toLowerCase()];
  return target === undefined ? address : joinHostPort(target, hp.port);
}

/** Wraps a dialer so that aliased hosts are dialed at their target; no aliases = the dialer itself. */
export function aliasDialer(inner: EndpointDialer, aliases: Readonly<Record<string, string>>): EndpointDialer {
  if (Object.keys(aliases).length === 0) return inner;
  return (address, opts) => inner(resolveAlias(address, aliases), opts);
}
