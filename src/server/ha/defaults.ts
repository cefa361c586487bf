/**
 * Timing and naming of the server's HA Leases, in one place. Upstream
 * proxy-server fixes these (lease name prefix, 30 s duration, renewal and
 * garbage collection every 15 s); they are not flags. Tests pass shorter
 * ones through LeaseServerHAOptions.
 */

/** Upstream's values. */
export const LEASE_DEFAULTS = Object.freeze({
  /** A replica's Lease is named this prefix plus its server id. */
  namePrefix: 'konnectivity-proxy-server-',
  /** spec.leaseDurationSeconds of the replica's Lease. */
  durationSeconds: 30,
  /** The replica renews its Lease this often. */
  renewIntervalMs: 15_000,
  /** Expired Leases matching the labels are deleted this often. */
  gcIntervalMs: 15_000,
  /**
   * The Leases are listed this often, so that the count sent to agents
   * follows a replica that starts or stops within seconds (upstream reads an
   * informer's cache); culling still happens once per gcIntervalMs.
   */
  listIntervalMs: 5_000,
  /** After a failed renewal, the next attempt comes this much sooner than a regular one (never later than renewIntervalMs). */
  renewRetryMs: 2_000,
});

/** The Lease name of a server replica. */
export function leaseNameFor(serverID: string): string {
  return `${LEASE_DEFAULTS.namePrefix}${serverID}`;
}

/** Labels as a selector (`k=v,k2=v2`, keys sorted), how the collector lists the replicas' Leases. */
export function labelsToSelector(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** Parses `k=v,k2=v2` (the --lease-label format, already checked by the CLI) into labels. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new Error(`label "${pair.trim()}" is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}
