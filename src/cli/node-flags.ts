/**
 * The Node (V8) flags `tunnel` runs with. They are set where the process
 * starts, since V8 sizes its heap before any of our code runs
 * (`v8.setFlagsFromString` is too late for these): the shebang of
 * src/main.ts, the Dockerfile's ENTRYPOINT, and the spawns of the
 * benchmarks and CLI tests. test/unit/cli/node-flags.test.ts keeps those in
 * step with this list.
 *
 * `--max-semi-space-size=4` (MiB): V8's young generation otherwise grows to
 * 16 MiB per semi-space (32 MiB of RSS) after a burst of allocations, such
 * as a thousand tunnels opening, and keeps it. Capped at 4 MiB, the server's
 * RSS per idle tunnel measured 19–20 KiB instead of 30 with 1,000 open and
 * 15 instead of 19 with 5,000, with bulk throughput unchanged within the
 * noise (medians 152 vs 142 MiB/s, 9 alternated runs each); 1 MiB cost a
 * quarter of the throughput. `npm run bench -- --only=memory,throughput`.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
