/**
 * `npm run bench [-- --quick | --smoke] [-- --only=throughput,latency,...] [-- --out=DIR]`
 *
 * Runs every scenario against the real CLI (server and agent as separate
 * processes) and a plain Node TCP relay measured in the same run, prints a
 * table, and writes JSON and markdown to bench/results/ (or --out).
 *
 * --quick: every scenario briefly (rough figures). --smoke: tiny sizes, for
 * the correctness test only (figures meaningless). Default: the full suite.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnv } from './lib/env.js';
import { FULL, QUICK, SMOKE, type Row, type Sizes, gitCommit, meta, ratio, toMarkdown, writeResults } from './lib/report.js';
import { agentLoss } from './scenarios/agent-loss.js';
import { dials } from './scenarios/dials.js';
import { hol } from './scenarios/hol.js';
import { latency } from './scenarios/latency.js';
import { checkFdLimit, memory } from './scenarios/memory.js';
import { throughput } from './scenarios/throughput.js';

export const SCENARIOS = { throughput, latency, dials, memory, hol, agentLoss } as const;
export type Name = keyof typeof SCENARIOS;
export type Mode = 'full' | 'quick' | 'smoke';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The checkout: bench/run.js is compiled to <outDir>/bench/run.js, and outDir is dist/ or .build/<name>/ in it. */
const repoRoot = path.resolve(here, '..', '..');

export interface Args {
  mode: Mode;
  only: Name[];
  out: string;
}

export function parseArgs(argv: string[]): Args {
  let mode: Mode = 'full';
  let only = Object.keys(SCENARIOS) as Name[];
  let out = path.join(repoRoot, 'bench', 'results');
  for (const a of argv) {
    if (a === '--quick') mode = 'quick';
    else if (a === '--smoke') mode = 'smoke';
    else if (a.startsWith('--only=')) {
      only = a.slice(7).split(',') as Name[];
      for (const n of only) if (!(n in SCENARIOS)) throw new Error(`unknown scenario "${n}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
    } else if (a.startsWith('--out=')) out = path.resolve(a.slice(6));
    else throw new Error(`unknown argument ${a} (use --quick or --smoke, --only=a,b, --out=DIR)`);
  }
  return { mode, only, out };
}

export const SIZES: Record<Mode, Sizes> = { full: FULL, quick: QUICK, smoke: SMOKE };

/** Runs the chosen scenarios and returns their rows. */
export async function runBench(sz: Sizes, only: Name[], log: (s: string) => void = console.log): Promise<Row[]> {
  if (only.includes('memory')) checkFdLimit(sz);
  const env = await startEnv();
  const rows: Row[] = [];
  try {
    for (const name of only) {
      log(`running ${name}...`);
      const got = await SCENARIOS[name](env, sz);
      for (const r of got) log(`  ${r.name}: tunnel ${r.tunnel.toFixed(2)} ${r.unit}, baseline ${r.baseline.toFixed(2)} ${r.unit} (ratio ${ratio(r).toFixed(2)})`);
      rows.push(...got);
    }
  } finally {
    await env.close();
  }
  return rows;
}

/** Parses the arguments, runs, prints the table and writes the results; used by `npm run bench` and the smoke test. */
export async function main(
  argv: string[],
  log: (s: string) => void = console.log,
): Promise<{ rows: Row[]; meta: Record<string, unknown>; files: { json: string; md: string } }> {
  const { mode, only, out } = parseArgs(argv);
  const sz = SIZES[mode];
  const rows = await runBench(sz, only, log);
  const command = ['node', path.relative(process.cwd(), fileURLToPath(import.meta.url)) || 'run.js', ...argv].join(' ');
  const m = meta(mode, sz, command, gitCommit(repoRoot));
  log('\n' + toMarkdown(rows, m));
  const files = writeResults(out, rows, m);
  log(`results written to ${files.json} and ${files.md}`);
  return { rows, meta: m, files };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
