/** Dial rate: single-use tunnels (dial, one small echo, close) at fixed concurrency. */
import type { BenchEnv, Connector } from '../lib/env.js';
import { echoOnce, median } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';

/** Runs `total` single-use connections with `concurrency` workers; returns connections per second. */
export async function dialRate(connect: Connector, total: number, concurrency: number, stopAt?: number): Promise<number> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < total && (stopAt === undefined || performance.now() < stopAt)) {
      started++;
      const sock = await connect();
      await echoOnce(sock);
      sock.destroy();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - t0) / 1000);
}

export async function dials(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const rows: Row[] = [];
  const paths: [string, Connector][] = [
    ['gRPC over UDS', env.viaUds],
    ['gRPC over mTLS TCP', env.viaTcp],
    ['HTTP CONNECT over UDS', env.viaConnect],
  ];
  for (const conc of [8, 32]) {
    const base: number[] = [];
    for (let i = 0; i < sz.runs; i++) base.push(await dialRate(env.baseline, sz.dials, conc));
    for (const [label, connect] of paths) {
      const tun: number[] = [];
      for (let i = 0; i < sz.runs; i++) tun.push(await dialRate(connect, sz.dials, conc));
      rows.push({
        scenario: 'dial rate',
        name: `${sz.dials} dials, concurrency ${conc}, ${label}`,
        unit: 'conn/s',
        tunnel: median(tun),
        baseline: median(base),
        higherIsBetter: true,
      });
    }
  }
  return rows;
}
