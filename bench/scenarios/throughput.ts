/** Bulk throughput: one tunnel down and up, and N tunnels in parallel, beside the TCP relay. */
import type { BenchEnv, Connector } from '../lib/env.js';
import { download, median, upload } from '../lib/ops.js';
import { cpuSeconds } from '../lib/procs.js';
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

/**
 * Runs `run` and returns its figure with the CPU milliseconds per MiB each
 * named process used meanwhile (the client is this process).
 */
async function withCpu(
  procs: Record<string, number>,
  mib: number,
  run: () => Promise<number>,
): Promise<{ value: number; cpu: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const value = await run();
  const cpu = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, ((cpuSeconds(pid) - before[k]!) * 1000) / mib]));
  return { value, cpu };
}

/** "client 2.0, server 5.1, agent 3.2, target 0.3": medians per process over the runs. */
function cpuNote(runs: Record<string, number>[]): string {
  const names = Object.keys(runs[0] ?? {});
  return names.map((n) => `${n} ${median(runs.map((r) => r[n]!)).toFixed(1)}`).join(', ');
}

export async function throughput(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const rows: Row[] = [];
  // The gRPC frontend (what kube-apiserver's grpc egress mode and the client
  // library use) for every case, and HTTP CONNECT (its http-connect mode) for
  // one tunnel each way; both over the server's Unix socket.
  const cases: [string, Connector, (c: Connector) => Promise<number>][] = [
    [`1 tunnel, ${sz.bulkMiB} MiB down`, env.viaUds, (c) => oneTransfer(c, 'down', sz.bulkMiB << 20, env.block)],
    [`1 tunnel, ${sz.bulkMiB} MiB up`, env.viaUds, (c) => oneTransfer(c, 'up', sz.bulkMiB << 20, env.block)],
    [`1 tunnel, ${sz.bulkMiB} MiB down, HTTP CONNECT`, env.viaConnect, (c) => oneTransfer(c, 'down', sz.bulkMiB << 20, env.block)],
    [`1 tunnel, ${sz.bulkMiB} MiB up, HTTP CONNECT`, env.viaConnect, (c) => oneTransfer(c, 'up', sz.bulkMiB << 20, env.block)],
    [`8 tunnels, ${sz.bulkMiB / 8} MiB down each`, env.viaUds, (c) => parallel(c, 8, (sz.bulkMiB << 20) / 8, env.block)],
  ];
  // Untimed warm-up, one transfer each way through the relay and each
  // frontend: the first megabytes run before V8 has optimised the data path
  // (in the tunnel's three processes), which would otherwise weigh on the
  // first of the few measured runs of the first case only.
  const warmBytes = Math.min(sz.bulkMiB, 64) << 20;
  for (const c of [env.baseline, env.viaUds, env.viaConnect]) {
    await oneTransfer(c, 'down', warmBytes, env.block);
    await oneTransfer(c, 'up', warmBytes, env.block);
  }
  const pid = (p: { child: { pid?: number } }): number => p.child.pid!;
  const tunnelProcs = { client: process.pid, server: pid(env.server), agent: pid(env.agent), target: pid(env.target) };
  const relayProcs = { client: process.pid, relay: pid(env.relay), target: pid(env.target) };
  for (const [name, via, run] of cases) {
    const base: number[] = [];
    const tun: number[] = [];
    const baseCpu: Record<string, number>[] = [];
    const tunCpu: Record<string, number>[] = [];
    for (let i = 0; i < sz.runs; i++) {
      const b = await withCpu(relayProcs, sz.bulkMiB, () => run(env.baseline));
      const t = await withCpu(tunnelProcs, sz.bulkMiB, () => run(via));
      base.push(b.value);
      baseCpu.push(b.cpu);
      tun.push(t.value);
      tunCpu.push(t.cpu);
    }
    const note = `CPU ms per MiB: tunnel ${cpuNote(tunCpu)}; relay ${cpuNote(baseCpu)}`;
    rows.push({ scenario: 'throughput', name, unit: 'MiB/s', tunnel: median(tun), baseline: median(base), higherIsBetter: true, note, samples: { tunnel: tun, baseline: base } });
  }
  return rows;
}
