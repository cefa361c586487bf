/** Round-trip latency of 100-byte request/response on one open tunnel, p50 and p99. */
import type { BenchEnv, Connector } from '../lib/env.js';
import { echoRoundTrips, median, percentile } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';

async function measure(connect: Connector, count: number): Promise<{ p50: number; p99: number }> {
  const sock = await connect();
  const times = (await echoRoundTrips(sock, count, 100)).slice(Math.floor(count / 10));
  sock.destroy();
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

export async function latency(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  // Untimed warm-up through the relay and the tunnel (as throughput does):
  // the figures are those of a running tunnel, not of V8 compiling the
  // small-packet path. The tunnel's path has much more JavaScript to
  // optimise than the relay's, so without it the first runs measure mostly
  // that (2,000 round trips right after start: p50 3-4x the relay's; after
  // 20,000: about 2.3x).
  for (const c of [env.baseline, env.viaUds]) {
    const sock = await c();
    await echoRoundTrips(sock, sz.roundTrips * 2, 100);
    sock.destroy();
  }
  const base: { p50: number; p99: number }[] = [];
  const tun: { p50: number; p99: number }[] = [];
  for (let i = 0; i < sz.runs; i++) {
    base.push(await measure(env.baseline, sz.roundTrips));
    tun.push(await measure(env.viaUds, sz.roundTrips));
  }
  return (['p50', 'p99'] as const).map((k) => ({
    scenario: 'latency',
    name: `100-byte round trip ${k}`,
    unit: 'µs',
    tunnel: median(tun.map((t) => t[k])),
    baseline: median(base.map((t) => t[k])),
    higherIsBetter: false,
    samples: { tunnel: tun.map((t) => t[k]), baseline: base.map((t) => t[k]) },
  }));
}
