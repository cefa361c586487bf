/**
 * What the TunnelServer asks of its HA part: the `servercount` value for the
 * next agent, a start once the listeners are bound, a stop first thing on
 * shutdown, and a summary for the admin view.
 */

/** The HA side of a server replica (Leases today; a static count without them). */
export interface ServerHA {
  /** The `servercount` header value for an agent connecting now; at least 1. */
  serverCount(): number;
  /** Starts background work (renewal, collection). Idempotent. */
  start(): void;
  /** Stops background work and withdraws this replica (deletes its Lease). Idempotent. */
  stop(): Promise<void>;
  /** A JSON-ready summary for the admin view. */
  describe(): Record<string, unknown>;
}
