/** host:port helpers with Go's net.SplitHostPort / JoinHostPort rules and error words. */

/** Why a host:port string was refused, worded as Go's net.AddrError. */
export class HostPortError extends Error {
  constructor(
    readonly reason: string,
    readonly addr: string,
  ) {
    super(`address ${addr}: ${reason}`);
    this.name = 'HostPortError';
  }
}

/** Splits "host:port", "[v6]:port" or ":port" like Go's net.SplitHostPort. The port is not checked. */
export function splitHostPort(hostport: string): { host: string; port: string } {
  const i = hostport.lastIndexOf(':');
  if (i < 0) throw new HostPortError('missing port in address', hostport);
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) throw new HostPortError("missing ']' in address", hostport);
    if (end + 1 === hostport.length) throw new HostPortError('missing port in address', hostport);
    if (end + 1 !== i) {
      throw new HostPortError(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address', hostport);
    }
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(':')) throw new HostPortError('too many colons in address', hostport);
  }
  if (hostport.slice(j).includes('[')) throw new HostPortError("unexpected '[' in address", hostport);
  if (hostport.slice(k).includes(']')) throw new HostPortError("unexpected ']' in address", hostport);
  return { host, port: hostport.slice(i + 1) };
}

/** A decimal port 0–65535, or a HostPortError "invalid port" naming the port. */
export function parsePort(port: string): number {
  if (!/^[0-9]{1,5}$/.test(port)) throw new HostPortError('invalid port', port);
  const n = Number(port);
  if (n > 65535) throw new HostPortError('invalid port', port);
  return n;
}

/** "host:port", with brackets around an IPv6 host (Go's net.JoinHostPort). */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
