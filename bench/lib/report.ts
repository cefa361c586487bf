/** Benchmark sizes, result rows, and the JSON and markdown written to the results folder. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Sizes {
  /** Repetitions of each scenario; rows report medians. */
  runs: number;
  bulkMiB: number;
  /**
   * Untimed warm-up per direction through the relay and each frontend before
   * the throughput runs, in transfers of bulkMiB: V8 keeps optimising the
   * data path for about the first GiB a fresh process moves.
   */
  warmTransfers: number;
  roundTrips: number;
  dials: number;
  idleTunnels: number[];
  holSeconds: number;
  pendingDials: number;
  /** Pause before reading RSS so allocations settle (memory scenario). */
  settleMs: number;
}

export const FULL: Sizes = { runs: 3, bulkMiB: 256, warmTransfers: 4, roundTrips: 2000, dials: 2000, idleTunnels: [1000, 5000], holSeconds: 20, pendingDials: 50, settleMs: 1500 };
export const QUICK: Sizes = { runs: 1, bulkMiB: 8, warmTransfers: 1, roundTrips: 200, dials: 100, idleTunnels: [100], holSeconds: 2, pendingDials: 10, settleMs: 1000 };
/** Correctness only (the smoke test): every scenario once with tiny sizes; figures are meaningless. */
export const SMOKE: Sizes = { runs: 1, bulkMiB: 1, warmTransfers: 1, roundTrips: 20, dials: 20, idleTunnels: [20], holSeconds: 1, pendingDials: 5, settleMs: 200 };

export interface Row {
  scenario: string;
  name: string;
  unit: string;
  /** Median over the runs. */
  tunnel: number;
  /** Median over the runs (or a fixed reference, see note). */
  baseline: number;
  higherIsBetter: boolean;
  /** The tunnel figure is a difference (memory growth) and may be zero or negative when the process gave memory back. */
  signed?: boolean;
  note?: string;
  /** Per-run values the medians were taken from. */
  samples?: { tunnel: number[]; baseline: number[] };
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

export function ratio(r: Row): number {
  return r.tunnel / r.baseline;
}

export function toMarkdown(rows: Row[], meta: Record<string, unknown>): string {
  const lines = [
    `# Benchmark results`,
    ``,
    `${String(meta['date'])}, ${String(meta['mode'])} mode, ${String(meta['cpus'])} CPUs, Node ${String(meta['node'])}, commit ${String(meta['commit'] ?? 'unknown')}${meta['dirty'] ? ' (with uncommitted changes)' : ''}. Medians of ${String(meta['runs'])} run(s); baseline = a plain Node TCP relay measured in the same run unless the note says otherwise.`,
    ``,
    `Command: \`${String(meta['command'] ?? '')}\``,
    ``,
    `| scenario | measurement | tunnel | baseline | tunnel / baseline | note |`,
    `|---|---|---:|---:|---:|---|`,
  ];
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.name} | ${fmt(r.tunnel)} ${r.unit} | ${fmt(r.baseline)} ${r.unit} | ${ratio(r).toFixed(2)} | ${(r.note ?? '').replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n') + '\n';
}

export function writeResults(dir: string, rows: Row[], meta: Record<string, unknown>): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = path.join(dir, `bench-${stamp}.json`);
  const md = path.join(dir, `bench-${stamp}.md`);
  writeFileSync(json, JSON.stringify({ meta, rows: rows.map((r) => ({ ...r, ratio: ratio(r) })) }, null, 2) + '\n');
  writeFileSync(md, toMarkdown(rows, meta));
  return { json, md };
}

/** `git rev-parse HEAD` of the checkout, and whether tracked files differ from it; null outside git. */
export function gitCommit(cwd: string): { commit: string; dirty: boolean } | null {
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' };
  } catch {
    return null;
  }
}

export function meta(mode: string, sz: Sizes, command: string, git: { commit: string; dirty: boolean } | null): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    mode,
    cpus: os.cpus().length,
    node: process.versions.node,
    runs: sz.runs,
    command,
    commit: git?.commit ?? null,
    dirty: git?.dirty ?? null,
    sizes: sz,
  };
}
