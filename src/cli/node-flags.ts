/**
 * The Node (V8) flags `tunnel` should run with. V8 sizes its heap before
 * any of our code runs (`v8.setFlagsFromString` is too late for these), so
 * they are set where the process starts: the Dockerfile's ENTRYPOINT, and
 * the spawns of the demo, the benchmarks and the CLI tests;
 * test/unit/cli/node-flags.test.ts keeps those in step with this list.
 * Elsewhere (`tunnel` from npm, `node dist/src/main.js`) the server and
 * agent log at start which are missing and how to set them
 * (NODE_OPTIONS). Not in the shebang: `#!/usr/bin/env -S node …` needs an
 * `env` with -S, which BusyBox (Alpine) lacks, and the binary must start
 * everywhere.
 *
 * `--max-semi-space-size=4` (MiB): V8's young generation otherwise grows to
 * 16 MiB per semi-space (32 MiB of RSS) after a burst of allocations, such
 * as a thousand tunnels opening, and keeps it. Capped at 4 MiB, the server's
 * RSS per idle tunnel measured 19–20 KiB instead of 30 with 1,000 open and
 * 15 instead of 19 with 5,000, with bulk throughput unchanged within the
 * noise (medians 152 vs 142 MiB/s, 9 alternated runs each); 2 MiB saved
 * 2 KiB more per tunnel but cost 15 % of the throughput, 1 MiB a quarter.
 * `npm run bench -- --only=memory,throughput`.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The flags of NODE_FLAGS (by name) that neither the command line nor
 * NODE_OPTIONS set; any value counts as set (an operator may choose another).
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((a) => a.split('=')[0]!.replace(/_/g, '-'));
  return NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0]!));
}
