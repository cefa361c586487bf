/**
 * How many server connections the agent wants, from what it knows: the
 * `servercount` header of the last newly added server, the live Lease count
 * (with --count-server-leases), the --server-count-source rule, and (beyond
 * upstream) the number of listed server addresses. Pure.
 *
 * - no Lease count: the header (0 before any server answered);
 * - source default with a Lease count: the Lease count;
 * - source max: the larger of the Lease count and the header.
 * The result is at least the number of listed addresses, and at least 1.
 */

/** --server-count-source. */
export type ServerCountSource = 'default' | 'max';

/** What the count is chosen from. */
export interface ServerCountInputs {
  source: ServerCountSource;
  /** `servercount` of the last newly added server; 0 before the first. */
  header: number;
  /** Live Leases; undefined without --count-server-leases. */
  leases: number | undefined;
  /** Listed server addresses (--proxy-server-host entries). */
  addresses: number;
}

/** The number of distinct servers to hold a connection to. */
export function wantedServers(i: ServerCountInputs): number {
  let count: number;
  if (i.leases === undefined) count = i.header;
  else if (i.source === 'max') count = Math.max(i.leases, i.header);
  else count = i.leases;
  return Math.max(1, count, i.addresses);
}
