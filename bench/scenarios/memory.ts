/**
 * Memory: server and agent RSS idle and with N open idle tunnels (KiB per
 * tunnel), beside the relay. Every idle tunnel is established end to end
 * before RSS is read: an echo through it came back, and the target counts
 * the connections open.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { BenchEnv, Connector } from '../lib/env.js';
import { echoProbe, targetStats } from '../lib/ops.js';
import type { Proc } from '../lib/procs.js';
import type { Row, Sizes } from '../lib/report.js';

/**
 * The relay holds two sockets per idle tunnel, the bench process and the
 * target one each. Node raises its soft RLIMIT_NOFILE to the hard limit at
 * start (children inherit and do the same), so the limit to check is this
 * process's. Throws before anything runs when it is too low.
 */
export function checkFdLimit(sz: Sizes): void {
  const most = Math.max(0, ...sz.idleTunnels);
  if (most === 0) return;
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return; // not Linux: nothing to read; opening will fail with EMFILE if too low
  }
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m || m[1] === 'unlimited') return;
  const need = 2 * most + 512;
  if (Number(m[1]) < need) {
    throw new Error(
      `memory scenario: ${most} idle tunnels need about ${need} file descriptors in the relay process, ` +
        `but the open-files limit is ${m[1]} (hard ${m[2]}); raise it (e.g. \`ulimit -n ${need}\` as root or in limits.conf) ` +
        `or run with --only= without memory`,
    );
  }
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function openIdle(env: BenchEnv, connect: Connector, n: number): Promise<Duplex[]> {
  const before = (await targetStats(env.targetPort)).open;
  const socks: Duplex[] = [];
  try {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async () => {
          const s = await connect();
          socks.push(s);
          s.on('error', () => undefined);
          await echoProbe(s); // the connection reaches the target and answers
        }),
      );
    }
    const open = (await targetStats(env.targetPort)).open - before;
    if (open < n) throw new Error(`memory: ${n} idle tunnels opened and echoed, but the target counts only ${open} more open connections`);
  } catch (e) {
    for (const s of socks) s.destroy();
    throw e;
  }
  return socks;
}

async function perTunnel(env: BenchEnv, connect: Connector, procs: Proc[], n: number, settleMs: number): Promise<{ idle: number[]; loaded: number[] }> {
  await settle(settleMs);
  const idle = procs.map((p) => p.rssKiB());
  const socks = await openIdle(env, connect, n);
  await settle(settleMs);
  const loaded = procs.map((p) => p.rssKiB());
  // Still open after the pause (nothing closed idle tunnels meanwhile)?
  const dead = socks.filter((s) => s.destroyed || s.readableEnded).length;
  for (const s of socks) s.destroy();
  if (dead) throw new Error(`memory: ${dead} of ${n} idle tunnels closed while being measured`);
  await settle(settleMs);
  return { idle, loaded };
}

export async function memory(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  checkFdLimit(sz);
  const rows: Row[] = [];
  rows.push({ scenario: 'memory', name: 'server RSS idle', unit: 'MiB', tunnel: env.server.rssKiB() / 1024, baseline: env.relay.rssKiB() / 1024, higherIsBetter: false });
  rows.push({ scenario: 'memory', name: 'agent RSS idle', unit: 'MiB', tunnel: env.agent.rssKiB() / 1024, baseline: env.relay.rssKiB() / 1024, higherIsBetter: false });
  const note = 'one measurement (not a median): RSS after opening minus RSS before, divided by the tunnels; baseline = the relay';
  for (const n of sz.idleTunnels) {
    const base = await perTunnel(env, env.baseline, [env.relay], n, sz.settleMs);
    const tun = await perTunnel(env, env.viaUds, [env.server, env.agent], n, sz.settleMs);
    const relayPer = (base.loaded[0]! - base.idle[0]!) / n;
    rows.push({ scenario: 'memory', name: `server KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[0]! - tun.idle[0]!) / n, baseline: relayPer, higherIsBetter: false, signed: true, note });
    rows.push({ scenario: 'memory', name: `agent KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[1]! - tun.idle[1]!) / n, baseline: relayPer, higherIsBetter: false, signed: true, note });
    rows.push({ scenario: 'memory', name: `server RSS with ${n} idle tunnels`, unit: 'MiB', tunnel: tun.loaded[0]! / 1024, baseline: base.loaded[0]! / 1024, higherIsBetter: false });
  }
  return rows;
}
