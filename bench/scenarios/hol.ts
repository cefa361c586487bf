/**
 * Head-of-line isolation: one tunnel whose reader stops while its target
 * keeps sending. The other tunnels' throughput and dial rate during the
 * window are compared with the same window without the stalled reader
 * (same kind of tunnels, same channel, same load), and the server's RSS
 * growth is reported, with what became of the stalled tunnel.
 *
 * The stalled tunnel and the other tunnels share one gRPC channel (a stream
 * each) and, behind the server, the agent's connection: the paths where one
 * stalled reader could hold up everyone.
 */
import type { Duplex } from 'node:stream';
import { type BenchEnv, type Connector, leased } from '../lib/env.js';
import { download, header, median, type TargetStats, targetStats } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';
import { dialRate } from './dials.js';

interface Window {
  mibps: number;
  dialsps: number;
  maxRssKiB: number;
}

/** `seconds` of load on `connect`: 3 tunnels downloading 4 MiB each in a loop, and dials at concurrency 4. */
async function window(env: BenchEnv, connect: Connector, seconds: number): Promise<Window> {
  const stopAt = performance.now() + seconds * 1000;
  let bytes = 0;
  let maxRss = env.server.rssKiB();
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, env.server.rssKiB())), 100);
  const chunk = 4 << 20;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const s = await connect();
      await download(s, chunk, env.block);
      s.destroy();
      bytes += chunk;
    }
  };
  const t0 = performance.now();
  try {
    const [dialsps] = await Promise.all([dialRate(leased(connect), Number.MAX_SAFE_INTEGER, 4, stopAt), ...Array.from({ length: 3 }, loop)]);
    return { mibps: bytes / (1 << 20) / ((performance.now() - t0) / 1000), dialsps: dialsps as number, maxRssKiB: Math.max(maxRss, env.server.rssKiB()) };
  } finally {
    clearInterval(sampler);
  }
}

let nextTag = 1;

interface StallOutcome {
  /** Bytes the target handed to the kernel for the stalled tunnel by the end of the window. */
  pushedMiB: number;
  /** The target's side of the stalled tunnel was still open at the end. */
  targetOpen: boolean;
  /** The stalled socket on the client was still open (no end, error or close). */
  clientOpen: boolean;
  /** The target was held back by backpressure (waiting for 'drain') in every sample during the window (every 250 ms). */
  heldBack: boolean;
  /** Bytes the target pushed during the window, after the tunnel's buffers had filled before it. */
  pushedDuringMiB: number;
  /** What closed it, when something did. */
  closedBy?: string;
}

/** Opens a tunnel that asks the target to send without end and never reads; resolves once the target is sending on it. */
async function openStalled(env: BenchEnv, connect: Connector): Promise<{ sock: Duplex; tag: number; closed: () => string | undefined }> {
  const tag = nextTag++;
  const sock = await connect();
  let closed: string | undefined;
  const t0 = performance.now();
  const mark = (why: string): void => {
    closed ??= `${why} after ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  };
  sock.on('error', (e: Error) => mark(`error "${e.message}"`));
  sock.once('end', () => mark('end of stream'));
  sock.once('close', () => mark('close'));
  sock.pause(); // no 'data' listener and paused: nothing is ever read
  sock.write(header('S', tag));
  // Wait until the target sends on it and, if flow control holds it back, until it is held back.
  const deadline = performance.now() + 5_000;
  for (;;) {
    const st = (await targetStats(env.targetPort)).stalls[String(tag)];
    if (st?.blocked) break;
    if (st && !st.open) throw new Error(`head-of-line: the target's side of the stalled tunnel closed before the window (${closed ?? 'client still open'})`);
    if (performance.now() > deadline) {
      if (!st) throw new Error('head-of-line: the stalled tunnel never reached the target');
      break; // sending without being held back: the window shows what that costs
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { sock, tag, closed: () => closed };
}

async function stalledRun(env: BenchEnv, connect: Connector, seconds: number): Promise<{ busy: Window; rssBeforeKiB: number; outcome: StallOutcome }> {
  const rssBeforeKiB = env.server.rssKiB();
  const stalled = await openStalled(env, connect);
  const sample = async (): Promise<TargetStats['stalls'][string]> => (await targetStats(env.targetPort)).stalls[String(stalled.tag)]!;
  const atStart = await sample();
  let heldBack = atStart.blocked;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, 250));
      if (sampling) heldBack &&= (await sample()).blocked;
    }
  })();
  let busy: Window;
  try {
    busy = await window(env, connect, seconds);
  } finally {
    sampling = false;
    await sampler;
  }
  const atEnd = await sample();
  const closedBy = stalled.closed() ?? (atEnd.open ? undefined : 'the target side closed');
  stalled.sock.destroy();
  return {
    busy,
    rssBeforeKiB,
    outcome: {
      pushedMiB: atEnd.pushed / (1 << 20),
      targetOpen: atEnd.open,
      clientOpen: stalled.closed() === undefined,
      heldBack: heldBack && atEnd.blocked,
      pushedDuringMiB: (atEnd.pushed - atStart.pushed) / (1 << 20),
      ...(closedBy ? { closedBy } : {}),
    },
  };
}

function describe(o: StallOutcome): string {
  const state =
    o.targetOpen && o.clientOpen
      ? 'stalled tunnel still open at the end'
      : `stalled tunnel closed during the window (${o.closedBy ?? 'unknown'}; client side ${o.clientOpen ? 'open' : 'closed'}, target side ${o.targetOpen ? 'open' : 'closed'})`;
  const held = o.heldBack ? 'the target, still sending, was held back by backpressure in every sample' : 'the target was NOT held back by backpressure in every sample';
  return `${state}; ${held}; it pushed ${o.pushedMiB.toFixed(1)} MiB into the tunnel in all, ${o.pushedDuringMiB.toFixed(1)} MiB of it during the window`;
}

export async function hol(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  // The same connector (streams on the shared UDS channel) in both windows.
  const connect = env.viaUds;
  const clean: Window[] = [];
  const cleanGrowth: number[] = [];
  const busy: Window[] = [];
  const growth: number[] = [];
  const outcomes: StallOutcome[] = [];
  const cleanRun = async (): Promise<void> => {
    const before = env.server.rssKiB();
    const c = await window(env, connect, sz.holSeconds);
    clean.push(c);
    cleanGrowth.push((c.maxRssKiB - before) / 1024);
  };
  const busyRun = async (): Promise<void> => {
    const s = await stalledRun(env, connect, sz.holSeconds);
    busy.push(s.busy);
    growth.push((s.busy.maxRssKiB - s.rssBeforeKiB) / 1024);
    outcomes.push(s.outcome);
  };
  // Alternate which window comes first, so warm-up or heap growth favours neither.
  for (let i = 0; i < sz.runs; i++) {
    if (i % 2 === 0) {
      await cleanRun();
      await busyRun();
    } else {
      await busyRun();
      await cleanRun();
    }
  }
  const stall = outcomes.map(describe);
  const stallNote = stall.every((x) => x === stall[0]) ? stall[0]! : stall.map((x, i) => `run ${i + 1}: ${x}`).join('; ');
  const same = `baseline = the same tunnels (streams on one UDS channel) in a ${sz.holSeconds} s window without the stalled reader`;
  const tun = (k: 'mibps' | 'dialsps'): number[] => busy.map((w) => w[k]);
  const base = (k: 'mibps' | 'dialsps'): number[] => clean.map((w) => w[k]);
  // Each run's two windows run back to back, so their ratio is less exposed to the machine's
  // load drifting between runs than the ratio of the medians; both are reported.
  const paired = (k: 'mibps' | 'dialsps'): string => {
    const r = busy.map((w, i) => w[k] / clean[i]![k]);
    return r.length > 1 ? `; per-run ratios ${r.map((x) => x.toFixed(2)).join(', ')}, median ${median(r).toFixed(2)}` : '';
  };
  return [
    { scenario: 'head-of-line', name: `other tunnels throughput with a stalled reader (${sz.holSeconds} s)`, unit: 'MiB/s', tunnel: median(tun('mibps')), baseline: median(base('mibps')), higherIsBetter: true, note: same + paired('mibps'), samples: { tunnel: tun('mibps'), baseline: base('mibps') } },
    { scenario: 'head-of-line', name: `dial rate with a stalled reader (${sz.holSeconds} s)`, unit: 'conn/s', tunnel: median(tun('dialsps')), baseline: median(base('dialsps')), higherIsBetter: true, note: same + paired('dialsps'), samples: { tunnel: tun('dialsps'), baseline: base('dialsps') } },
    {
      scenario: 'head-of-line',
      name: 'server RSS growth during the stall (peak minus before)',
      unit: 'MiB',
      tunnel: median(growth),
      baseline: 64,
      higherIsBetter: false,
      signed: true,
      note: `baseline column = the 64 MiB target; growth in the window without the stall: ${median(cleanGrowth).toFixed(1)} MiB; ${stallNote}`,
      samples: { tunnel: growth, baseline: growth.map(() => 64) },
    },
  ];
}
