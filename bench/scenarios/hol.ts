/**
 * Head-of-line isolation: one tunnel whose reader stops while its target keeps
 * sending. The other tunnels' throughput and dial rate during the window are
 * compared with the same window without the stalled reader, and the server's
 * RSS growth is reported.
 */
import type { BenchEnv } from '../lib/env.js';
import { download, header } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';
import { dialRate } from './dials.js';

async function window(env: BenchEnv, seconds: number): Promise<{ mibps: number; dialsps: number; maxRssKiB: number }> {
  const stopAt = performance.now() + seconds * 1000;
  let bytes = 0;
  let maxRss = env.server.rssKiB();
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, env.server.rssKiB())), 200);
  const chunk = 4 << 20;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const s = await env.viaUds();
      await download(s, chunk, env.block);
      s.destroy();
      bytes += chunk;
    }
  };
  const t0 = performance.now();
  const [dialsps] = await Promise.all([dialRate(env.viaUds, Number.MAX_SAFE_INTEGER, 4, stopAt), ...Array.from({ length: 3 }, loop)]);
  clearInterval(sampler);
  return { mibps: bytes / (1 << 20) / ((performance.now() - t0) / 1000), dialsps: dialsps as number, maxRssKiB: maxRss };
}

export async function hol(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const clean = await window(env, sz.holSeconds);
  const rssBefore = env.server.rssKiB();
  const stalled = await env.viaUds();
  stalled.on('error', () => undefined);
  stalled.write(header('S', 0));
  stalled.pause();
  const busy = await window(env, sz.holSeconds);
  stalled.destroy();
  return [
    { scenario: 'head-of-line', name: 'other tunnels throughput with a stalled reader', unit: 'MiB/s', tunnel: busy.mibps, baseline: clean.mibps, higherIsBetter: true, note: 'baseline = same tunnel run without the stalled reader' },
    { scenario: 'head-of-line', name: 'dial rate with a stalled reader', unit: 'conn/s', tunnel: busy.dialsps, baseline: clean.dialsps, higherIsBetter: true, note: 'baseline = same tunnel run without the stalled reader' },
    { scenario: 'head-of-line', name: 'server RSS growth during the stall', unit: 'MiB', tunnel: (busy.maxRssKiB - rssBefore) / 1024, baseline: 64, higherIsBetter: false, note: 'baseline column = the 64 MiB target' },
  ];
}
