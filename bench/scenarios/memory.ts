/** Memory: server and agent RSS idle and with N open idle tunnels (KiB per tunnel), beside the relay. */
import type { Duplex } from 'node:stream';
import type { BenchEnv, Connector } from '../lib/env.js';
import { header } from '../lib/ops.js';
import type { Proc } from '../lib/procs.js';
import type { Row, Sizes } from '../lib/report.js';

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1500));

async function openIdle(connect: Connector, n: number): Promise<Duplex[]> {
  const socks: Duplex[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => connect()));
    for (const s of batch) {
      s.write(header('E', 0));
      s.on('error', () => undefined);
    }
    socks.push(...batch);
  }
  return socks;
}

async function perTunnel(connect: Connector, procs: Proc[], n: number): Promise<{ idle: number[]; loaded: number[] }> {
  await settle();
  const idle = procs.map((p) => p.rssKiB());
  const socks = await openIdle(connect, n);
  await settle();
  const loaded = procs.map((p) => p.rssKiB());
  for (const s of socks) s.destroy();
  await settle();
  return { idle, loaded };
}

export async function memory(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push({ scenario: 'memory', name: 'server RSS idle', unit: 'MiB', tunnel: env.server.rssKiB() / 1024, baseline: env.relay.rssKiB() / 1024, higherIsBetter: false });
  rows.push({ scenario: 'memory', name: 'agent RSS idle', unit: 'MiB', tunnel: env.agent.rssKiB() / 1024, baseline: env.relay.rssKiB() / 1024, higherIsBetter: false });
  for (const n of sz.idleTunnels) {
    const base = await perTunnel(env.baseline, [env.relay], n);
    const tun = await perTunnel(env.viaUds, [env.server, env.agent], n);
    const relayPer = (base.loaded[0]! - base.idle[0]!) / n;
    rows.push({ scenario: 'memory', name: `server KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[0]! - tun.idle[0]!) / n, baseline: relayPer, higherIsBetter: false });
    rows.push({ scenario: 'memory', name: `agent KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[1]! - tun.idle[1]!) / n, baseline: relayPer, higherIsBetter: false });
    rows.push({ scenario: 'memory', name: `server RSS with ${n} idle tunnels`, unit: 'MiB', tunnel: tun.loaded[0]! / 1024, baseline: base.loaded[0]! / 1024, higherIsBetter: false });
  }
  return rows;
}
