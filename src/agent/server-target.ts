/**
 * The server addresses an agent connects to: --proxy-server-host is a host,
 * or (beyond upstream) a comma-separated list of host or host:port entries;
 * entries without a port use --proxy-server-port.
 */
import net from 'node:net';
import { HostPortError, joinHostPort, parsePort, splitHostPort } from './host-port.js';

/** One address to open server connections to. */
export interface ServerTarget {
  host: string;
  port: number;
  /** "host:port" (IPv6 in brackets), as shown in logs and used as the gRPC target. */
  address: string;
}

/**
 * Parses --proxy-server-host / --proxy-server-port. Throws an Error naming
 * the bad entry. Duplicate entries are kept once.
 */
export function parseServerTargets(hostList: string, defaultPort: number): ServerTarget[] {
  const entries = hostList
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) throw new Error('--proxy-server-host is empty');
  const out = new Map<string, ServerTarget>();
  for (const entry of entries) {
    const t = parseEntry(entry, defaultPort);
    out.set(t.address, t);
  }
  return [...out.values()];
}

function parseEntry(entry: string, defaultPort: number): ServerTarget {
  let host = entry;
  let port = defaultPort;
  if (net.isIPv6(entry)) {
    host = entry;
  } else if (entry.startsWith('[') && entry.endsWith(']')) {
    host = entry.slice(1, -1);
    if (!net.isIPv6(host)) throw new Error(`--proxy-server-host entry "${entry}": "${host}" is not an IPv6 address`);
  } else if (entry.includes(':')) {
    try {
      const hp = splitHostPort(entry);
      host = hp.host;
      port = parsePort(hp.port);
    } catch (e) {
      const why = e instanceof HostPortError ? e.reason : (e as Error).message;
      throw new Error(`--proxy-server-host entry "${entry}": ${why}`);
    }
  }
  if (host === '') throw new Error(`--proxy-server-host entry "${entry}" has no host`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`--proxy-server-host entry "${entry}": port ${port} is not in 1-65535`);
  }
  return { host, port, address: joinHostPort(host, port) };
}
