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
  // Untimed warm-up through the relay and each frontend, warmTransfers of the
  // full size each way: in a fresh process V8 keeps optimising (and
  // de-optimising) the data path for about the first GiB it moves (through
  // the tunnel 170 -> 350 MiB/s up over four 256 MiB transfers, the relay
  // 800 -> 1,100; --trace-opt shows optimisations until then). The measured
  // runs are the steady state a long-running tunnel is in; the first
  // transfers of the warm-up are reported as rows of their own.
  const first: Record<string, number> = {};
  for (const [key, c] of [['relay', env.baseline], ['grpc', env.viaUds], ['connect', env.viaConnect]] as const) {
    for (let i = 0; i < sz.warmTransfers; i++) {
      for (const dir of ['down', 'up'] as const) {
        const rate = await oneTransfer(c, dir, sz.bulkMiB << 20, env.block);
        first[`${key} ${dir}`] ??= rate;
      }
    }
  }
  for (const dir of ['down', 'up'] as const) {
    const tunnel = first[`grpc ${dir}`]!;
    const baseline = first[`relay ${dir}`]!;
    rows.push({
      scenario: 'throughput',
      name: `1 tunnel, ${sz.bulkMiB} MiB ${dir}, first transfer after start`,
      unit: 'MiB/s',
      tunnel,
      baseline,
      higherIsBetter: true,
      note: `one run: the first transfer this way through processes just started (the first upload follows one download), before V8 has optimised the data path; the other rows come after ${sz.warmTransfers} x ${sz.bulkMiB} MiB each way; through HTTP CONNECT the first was ${first[`connect ${dir}`]!.toFixed(0)} MiB/s`,
      samples: { tunnel: [tunnel], baseline: [baseline] },
    });
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
