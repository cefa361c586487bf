/** Bulk throughput: one tunnel down and up, and N tunnels in parallel, beside the TCP relay. */
import type { BenchEnv, Connector } from '../lib/env.js';
import { download, median, upload } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';

async function oneTransfer(connect: Connector, dir: 'down' | 'up', bytes: number, block: Buffer): Promise<number> {
  const sock = await connect();
  const t0 = performance.now();
  if (dir === 'down') await download(sock, bytes, block);
  else await upload(sock, bytes, block);
  const s = (performance.now() - t0) / 1000;
  sock.destroy();
  return bytes / (1 << 20) / s;
}

async function parallel(connect: Connector, n: number, bytesEach: number, block: Buffer): Promise<number> {
  const socks = await Promise.all(Array.from({ length: n }, () => connect()));
  const t0 = performance.now();
  await Promise.all(socks.map((s) => download(s, bytesEach, block)));
  const s = (performance.now() - t0) / 1000;
  for (const x of socks) x.destroy();
  return (n * bytesEach) / (1 << 20) / s;
}

export async function throughput(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const rows: Row[] = [];
  const cases: [string, (c: Connector) => Promise<number>][] = [
    [`1 tunnel, ${sz.bulkMiB} MiB down`, (c) => oneTransfer(c, 'down', sz.bulkMiB << 20, env.block)],
    [`1 tunnel, ${sz.bulkMiB} MiB up`, (c) => oneTransfer(c, 'up', sz.bulkMiB << 20, env.block)],
    [`8 tunnels, ${sz.bulkMiB / 8} MiB down each`, (c) => parallel(c, 8, (sz.bulkMiB << 20) / 8, env.block)],
  ];
  for (const [name, run] of cases) {
    const base: number[] = [];
    const tun: number[] = [];
    for (let i = 0; i < sz.runs; i++) {
      base.push(await run(env.baseline));
      tun.push(await run(env.viaUds));
    }
    rows.push({ scenario: 'throughput', name, unit: 'MiB/s', tunnel: median(tun), baseline: median(base), higherIsBetter: true, samples: { tunnel: tun, baseline: base } });
  }
  return rows;
}
