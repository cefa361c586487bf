/**
 * `npm run bench [-- --quick] [-- --only=throughput,latency,...]`
 *
 * Runs every scenario against the real CLI (server and agent as separate
 * processes) and a plain Node TCP relay measured in the same run, prints a
 * table, and writes JSON and markdown to bench/results/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnv } from './lib/env.js';
import { FULL, QUICK, type Row, type Sizes, meta, ratio, toMarkdown, writeResults } from './lib/report.js';
import { agentLoss } from './scenarios/agent-loss.js';
import { dials } from './scenarios/dials.js';
import { hol } from './scenarios/hol.js';
import { latency } from './scenarios/latency.js';
import { memory } from './scenarios/memory.js';
import { throughput } from './scenarios/throughput.js';

const SCENARIOS = { throughput, latency, dials, memory, hol, agentLoss } as const;
type Name = keyof typeof SCENARIOS;

function parseArgs(argv: string[]): { quick: boolean; only: Name[]; out: string } {
  let quick = false;
  let only = Object.keys(SCENARIOS) as Name[];
  const here = path.dirname(fileURLToPath(import.meta.url));
  let out = path.resolve(here, '..', '..', 'bench', 'results');
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a.startsWith('--only=')) {
      only = a.slice(7).split(',') as Name[];
      for (const n of only) if (!(n in SCENARIOS)) throw new Error(`unknown scenario "${n}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
    } else if (a.startsWith('--out=')) out = path.resolve(a.slice(6));
    else throw new Error(`unknown argument ${a} (use --quick, --only=a,b, --out=DIR)`);
  }
  return { quick, only, out };
}

/** Runs the chosen scenarios and returns their rows; used by `npm run bench` and the smoke test. */
export async function runBench(sz: Sizes, only: Name[], log: (s: string) => void = console.log): Promise<Row[]> {
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

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { quick, only, out } = parseArgs(process.argv.slice(2));
  const sz = quick ? QUICK : FULL;
  runBench(sz, only).then(
    (rows) => {
      const m = meta(quick ? 'quick' : 'full', sz);
      console.log('\n' + toMarkdown(rows, m));
      const files = writeResults(out, rows, m);
      console.log(`results written to ${files.json} and ${files.md}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
