/**
 * Agent identifiers: a URL query string such as
 * `ipv4=1.2.3.4&host=node1&cidr=10.0.0.0/8&default-route=true`, sent in the
 * `agentidentifiers` metadata on Connect.
 */

export const IDENTIFIER_KEYS = ['ipv4', 'ipv6', 'host', 'cidr', 'default-route'] as const;
export type IdentifierKey = (typeof IDENTIFIER_KEYS)[number];

export interface AgentIdentifiers {
  ipv4: string[];
  ipv6: string[];
  host: string[];
  cidr: string[];
  defaultRoute: boolean;
}

export function emptyIdentifiers(): AgentIdentifiers {
  return { ipv4: [], ipv6: [], host: [], cidr: [], defaultRoute: false };
}

/**
 * Parses an identifiers string. With `strict`, unknown keys throw (the agent
 * checks its own flag at start); without, they are ignored (the server, as
 * upstream).
 */
export function parseIdentifiers(text: string, strict: boolean): AgentIdentifiers {
  const ids = emptyIdentifiers();
  if (text.trim() === '') return ids;
  const q = new URLSearchParams(text);
  let sawDefaultRoute = false;
  for (const [key, value] of q) {
    switch (key) {
      case 'ipv4':
      case 'ipv6':
      case 'host':
      case 'cidr':
        ids[key].push(value);
        break;
      case 'default-route':
        if (!sawDefaultRoute) {
          sawDefaultRoute = true;
          ids.defaultRoute = parseGoBool(value, strict);
        }
        break;
      default:
        if (strict) {
          throw new Error(
            `unknown agent identifier key "${key}" (allowed: ${IDENTIFIER_KEYS.join(', ')})`,
          );
        }
    }
  }
  return ids;
}

export function formatIdentifiers(ids: AgentIdentifiers): string {
  const q = new URLSearchParams();
  for (const k of ['ipv4', 'ipv6', 'host', 'cidr'] as const) for (const v of ids[k]) q.append(k, v);
  if (ids.defaultRoute) q.append('default-route', 'true');
  return q.toString();
}

/** Go's strconv.ParseBool. */
function parseGoBool(v: string, strict: boolean): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  if (strict) throw new Error(`agent identifier default-route="${v}" is not a boolean (use true or false)`);
  return false;
}
