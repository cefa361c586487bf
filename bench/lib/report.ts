/** Benchmark sizes, result rows, and the JSON and markdown written to bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Sizes {
  runs: number;
  bulkMiB: number;
  roundTrips: number;
  dials: number;
  idleTunnels: number[];
  holSeconds: number;
  pendingDials: number;
}

export const FULL: Sizes = { runs: 3, bulkMiB: 256, roundTrips: 2000, dials: 2000, idleTunnels: [1000, 5000], holSeconds: 20, pendingDials: 50 };
export const QUICK: Sizes = { runs: 1, bulkMiB: 8, roundTrips: 200, dials: 100, idleTunnels: [100], holSeconds: 2, pendingDials: 10 };

export interface Row {
  scenario: string;
  name: string;
  unit: string;
  tunnel: number;
  baseline: number;
  higherIsBetter: boolean;
  note?: string;
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

export function ratio(r: Row): number {
  return r.tunnel / r.baseline;
}

export function toMarkdown(rows: Row[], meta: Record<string, unknown>): string {
  const lines = [
    `# Benchmark results`,
    ``,
    `${String(meta['date'])}, ${String(meta['mode'])} mode, ${String(meta['cpus'])} CPUs, Node ${String(meta['node'])}. Medians of ${String(meta['runs'])} run(s); baseline = a plain Node TCP relay measured in the same run unless the note says otherwise.`,
    ``,
    `| scenario | measurement | tunnel | baseline | tunnel / baseline | note |`,
    `|---|---|---:|---:|---:|---|`,
  ];
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.name} | ${fmt(r.tunnel)} ${r.unit} | ${fmt(r.baseline)} ${r.unit} | ${ratio(r).toFixed(2)} | ${r.note ?? ''} |`);
  }
  return lines.join('\n') + '\n';
}

export function writeResults(dir: string, rows: Row[], meta: Record<string, unknown>): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = path.join(dir, `bench-${stamp}.json`);
  const md = path.join(dir, `bench-${stamp}.md`);
  writeFileSync(json, JSON.stringify({ meta, rows }, null, 2) + '\n');
  writeFileSync(md, toMarkdown(rows, meta));
  return { json, md };
}

export function meta(mode: string, sz: Sizes): Record<string, unknown> {
  return { date: new Date().toISOString(), mode, cpus: os.cpus().length, node: process.versions.node, runs: sz.runs };
}
