/**
 * Dial rate: single-use connections (dial, one small echo checked, close) at
 * fixed concurrency. The gRPC rows open a new tunnel per dial, as upstream's
 * konnectivity client in kube-apiserver does (new gRPC connection over the
 * UDS or mTLS TCP, one Proxy stream, dial, use, close the tunnel); HTTP
 * CONNECT opens one connection per dial anyway. An extra row dials on one
 * long-lived gRPC channel (a stream per dial) for comparison.
 */
import { type BenchEnv, type Dialer, leased } from '../lib/env.js';
import { echoOnce, median } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';

/** Runs `total` single-use connections with `concurrency` workers (or until `stopAt`); returns completed connections per second. */
export async function dialRate(dial: Dialer, total: number, concurrency: number, stopAt?: number): Promise<number> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < total && (stopAt === undefined || performance.now() < stopAt)) {
      started++;
      const { sock, release } = await dial();
      try {
        await echoOnce(sock);
      } finally {
        await release();
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (done === 0) throw new Error('dial rate: no connection completed');
  return done / ((performance.now() - t0) / 1000);
}

export async function dials(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const rows: Row[] = [];
  const paths: [string, Dialer, string?][] = [
    ['gRPC over UDS, new tunnel per dial', env.singleUseUds],
    ['gRPC over mTLS TCP, new tunnel per dial', env.singleUseTcp],
    ['HTTP CONNECT over UDS', leased(env.viaConnect)],
    ['gRPC over UDS, one shared channel', leased(env.viaUds), 'extra: a stream per dial on one long-lived channel, not how kube-apiserver dials'],
  ];
  for (const conc of [8, 32]) {
    const base: number[] = [];
    for (let i = 0; i < sz.runs; i++) base.push(await dialRate(leased(env.baseline), sz.dials, conc));
    for (const [label, dial, note] of paths) {
      const tun: number[] = [];
      for (let i = 0; i < sz.runs; i++) tun.push(await dialRate(dial, sz.dials, conc));
      rows.push({
        scenario: 'dial rate',
        name: `${sz.dials} dials, concurrency ${conc}, ${label}`,
        unit: 'conn/s',
        tunnel: median(tun),
        baseline: median(base),
        higherIsBetter: true,
        samples: { tunnel: tun, baseline: base },
        ...(note ? { note } : {}),
      });
    }
  }
  return rows;
}
