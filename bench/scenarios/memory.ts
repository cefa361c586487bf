/**
 * Memory: server and agent RSS idle and with N open idle tunnels (KiB per
 * tunnel), beside the relay. Every idle tunnel is established end to end
 * before RSS is read: an echo through it came back, and the target counts
 * the connections open.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createTunnel } from '../../src/client/index.js';
import { type BenchEnv, type Connector, startServerAndAgent } from '../lib/env.js';
import { echoProbe, targetStats } from '../lib/ops.js';
import { type Proc, startScript } from '../lib/procs.js';
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

/**
 * Fresh processes for one measurement: the server, agent and relay have run
 * the other scenarios by now, and a heap grown by bulk transfers absorbs new
 * tunnels without growing RSS (per-tunnel figures came out near zero or
 * negative). Each size gets a new relay, server and agent, idle and warmed by
 * one echo each, so "idle" is what an operator sees at start.
 */
async function fresh(env: BenchEnv): Promise<{ relay: Proc; server: Proc; agent: Proc; viaRelay: Connector; viaUds: Connector; close(): Promise<void> }> {
  const relay = await startScript('relay.js', [String(env.targetPort)]);
  const relayPort = Number(relay.info['port']);
  const { server, agent, uds } = await startServerAndAgent(env.dir, env.pki);
  const tunnel = await createTunnel({ uds });
  const viaRelay: Connector = () =>
    new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: relayPort }, () => resolve(sock));
      sock.once('error', reject);
    });
  const viaUds: Connector = () => tunnel.dial(env.targetAddr);
  return {
    relay,
    server,
    agent,
    viaRelay,
    viaUds,
    async close() {
      await tunnel.close();
      for (const p of [agent, server, relay]) await p.stop();
    },
  };
}

export async function memory(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  checkFdLimit(sz);
  const rows: Row[] = [];
  const note = 'one measurement (not a median) on a new server, agent and relay: RSS after opening minus RSS before, divided by the tunnels; baseline = the relay';
  let first = true;
  for (const n of sz.idleTunnels) {
    const f = await fresh(env);
    try {
      // One echo each way warms the code paths, so their one-time cost is not counted per tunnel.
      for (const c of [f.viaRelay, f.viaUds]) {
        const s = await c();
        await echoProbe(s);
        s.destroy();
      }
      await settle(sz.settleMs);
      if (first) {
        rows.push({ scenario: 'memory', name: 'server RSS idle (new process)', unit: 'MiB', tunnel: f.server.rssKiB() / 1024, baseline: f.relay.rssKiB() / 1024, higherIsBetter: false });
        rows.push({ scenario: 'memory', name: 'agent RSS idle (new process)', unit: 'MiB', tunnel: f.agent.rssKiB() / 1024, baseline: f.relay.rssKiB() / 1024, higherIsBetter: false });
        first = false;
      }
      const base = await perTunnel(env, f.viaRelay, [f.relay], n, sz.settleMs);
      const tun = await perTunnel(env, f.viaUds, [f.server, f.agent], n, sz.settleMs);
      const relayPer = (base.loaded[0]! - base.idle[0]!) / n;
      // RSS moves in steps of the heap's growth (MiB), which a process may also give back.
      const perNote = n < 1000 ? `${note}. With only ${n} tunnels the figure is noise (it may even be negative); the full mode opens 1,000 and 5,000` : note;
      rows.push({ scenario: 'memory', name: `server KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[0]! - tun.idle[0]!) / n, baseline: relayPer, higherIsBetter: false, signed: true, note: perNote });
      rows.push({ scenario: 'memory', name: `agent KiB per idle tunnel (${n} open)`, unit: 'KiB', tunnel: (tun.loaded[1]! - tun.idle[1]!) / n, baseline: relayPer, higherIsBetter: false, signed: true, note: perNote });
      rows.push({ scenario: 'memory', name: `server RSS with ${n} idle tunnels`, unit: 'MiB', tunnel: tun.loaded[0]! / 1024, baseline: base.loaded[0]! / 1024, higherIsBetter: false });
    } finally {
      await f.close();
    }
  }
  rows.push({ scenario: 'memory', name: 'server RSS after the other scenarios', unit: 'MiB', tunnel: env.server.rssKiB() / 1024, baseline: env.relay.rssKiB() / 1024, higherIsBetter: false, note: 'the long-running server and relay, after bulk transfers and dials' });
  return rows;
}
