/** Agent loss: time until pending dials fail after the agent is killed (SIGKILL). */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createTunnel } from '../../src/client/index.js';
import { type BenchEnv, startServerAndAgent } from '../lib/env.js';
import { median } from '../lib/ops.js';
import type { Row, Sizes } from '../lib/report.js';

/**
 * A listener that never accepts, with its accept queue filled, so new
 * connects to it hang on loopback (SYNs are dropped while the queue is full).
 * Node always accepts, so the listener is a tiny python3 process.
 */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const py = spawn('python3', [
    '-c',
    'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(3600)',
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      py.kill('SIGKILL');
    },
  };
}

async function once(env: BenchEnv, n: number): Promise<number> {
  const hole = await blackhole();
  const { server, agent, uds } = await startServerAndAgent(env.dir, env.pki);
  const tunnel = await createTunnel({ uds });
  try {
    const failedAt: number[] = [];
    const dials = Array.from({ length: n }, () =>
      tunnel.dial(`127.0.0.1:${hole.port}`).then(
        (s) => {
          s.destroy();
          throw new Error('a dial to the blackhole succeeded; the scenario needs hanging connects');
        },
        () => failedAt.push(performance.now()),
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = performance.now();
    agent.child.kill('SIGKILL');
    await Promise.all(dials);
    return Math.max(...failedAt) - killedAt;
  } finally {
    await tunnel.close();
    await agent.stop();
    await server.stop();
    hole.close();
  }
}

export async function agentLoss(env: BenchEnv, sz: Sizes): Promise<Row[]> {
  const times: number[] = [];
  for (let i = 0; i < sz.runs; i++) times.push(await once(env, sz.pendingDials));
  return [
    {
      scenario: 'agent loss',
      name: `time until ${sz.pendingDials} pending dials fail after SIGKILL of the agent`,
      unit: 'ms',
      tunnel: median(times),
      baseline: 30000,
      higherIsBetter: false,
      note: "baseline column = upstream's 30 s dial backstop",
      samples: { tunnel: times, baseline: times.map(() => 30000) },
    },
  ];
}
