/**
 * The Node (V8) flags `tunnel` should run with. V8 sizes its heap before
 * any of our code runs (`v8.setFlagsFromString` is too late for these), so
 * they are set where the process starts: the Dockerfile's ENTRYPOINT, and
 * the spawns of the demo, the benchmarks and the CLI tests;
 * test/unit/cli/node-flags.test.ts keeps those in step with this list.
 * Elsewhere (`tunnel` from npm, `node dist/src/main.js`) the server and
 * agent log at start which are missing and how to start them (on node's
 * command line: Node refuses `--initial-old-space-size` in NODE_OPTIONS).
 * Not in the shebang: `#!/usr/bin/env -S node …` needs an
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
 *
 * `--initial-old-space-size=64` (MiB): the server's old generation holds
 * only ~14 MiB, so V8 sets its first collection limit low (~25 MiB) and,
 * while bulk data flows (every message is a fresh off-heap buffer, counted
 * against that limit), started a full mark-compact every 30–50 ms: ~100 in
 * a 256 MiB download, a fifth of the server's CPU (`--trace-gc`,
 * `--trace-incremental-marking`: "Start (allocation limit)" with 14 of
 * 25 MiB used). With a 64 MiB initial limit: 3–6 full collections in the
 * same transfer, the server's CPU per MiB 5.3–5.8 → 2.9–3.5 ms through a
 * gRPC client and 4.5–5.1 → 2.1–2.2 through HTTP CONNECT, one-tunnel
 * downloads 147–178 → 184–290 MiB/s (`npm run bench -- --only=throughput`).
 * It costs ~4 MiB of idle RSS (garbage of the start-up is collected later);
 * 32 and 48 MiB halved and quartered the collections instead.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--initial-old-space-size=64'];

/**
 * The flags of NODE_FLAGS (by name) that neither the command line nor
 * NODE_OPTIONS set; any value counts as set (an operator may choose another).
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((a) => a.split('=')[0]!.replace(/_/g, '-'));
  return NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0]!));
}
