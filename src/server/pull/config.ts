/**
 * Pull mode configuration of the server, as plain data. The CLI fills it from
 * --pull-target, --pull-allow and the pull limits (src/cli/pull-options.ts);
 * tests build it directly. Defaults are in ./defaults.ts.
 */

/** A named service on the server's side that agents may pull. */
export interface PullTarget {
  /** The name agents ask for (a lowercase DNS-style name, never an IP). */
  name: string;
  /** Where the server connects for it. */
  host: string;
  port: number;
}

/** One allow-list entry: who may pull which names. */
export interface PullAllowRule {
  /**
   * An agent id, a cluster name, an identity subject, or `*` for any
   * authenticated agent (see principal.ts for what an agent is matched by).
   */
  identity: string;
  /** Target names; may be empty (the entry then allows nothing). */
  targets: string[];
}

/** Everything pull mode needs on the server. */
export interface PullServerConfig {
  /** The named targets (`--pull-target=NAME=HOST:PORT`, plus `kubernetes` in a pod). */
  targets: PullTarget[];
  /** Who may pull what (`--pull-allow=IDENTITY=NAME[,NAME...]`); rules add up. */
  allow: PullAllowRule[];
  /** Pull connections (dialing or open) one agent may hold at once; more are refused. */
  maxConnectionsPerAgent: number;
  /** How long the server tries to connect to a target. */
  dialTimeoutMs: number;
}
