/**
 * The benchmark suite (bench/) runs, once, in smoke mode: every scenario with
 * tiny sizes against the real CLI. Asserts correctness only, never speed:
 * every scenario produced its rows, every figure is a finite number (positive
 * unless it is a memory difference), the results JSON and markdown are
 * written and parse. Beforehand, the ops the scenarios are built on are shown
 * to reject a stream with one corrupted byte (download, upload, echo), so a
 * run that finishes has had every byte checked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { download, echoOnce, echoRoundTrips, upload } from '../../bench/lib/ops.js';
import { patternBlock } from '../../bench/lib/pattern.js';
import { type Proc, startScript } from '../../bench/lib/procs.js';
import type { Row } from '../../bench/lib/report.js';
import { main, SCENARIOS, SIZES } from '../../bench/run.js';

const SEED = 'a1b2c3d4e5f60718';

/** A TCP relay in this process to the target that flips one byte at `offset` of one direction's stream. */
function corruptingRelay(targetPort: number, dir: 'toTarget' | 'toClient', offset: number): Promise<{ port: number; close(): void }> {
  const server = net.createServer((client) => {
    const up = net.connect({ host: '127.0.0.1', port: targetPort });
    const pass = (from: net.Socket, to: net.Socket, corrupt: boolean): void => {
      let seen = 0;
      from.on('data', (c: Buffer) => {
        if (corrupt && offset >= seen && offset < seen + c.length) {
          c = Buffer.from(c);
          c[offset - seen] ^= 0x01;
        }
        seen += c.length;
        to.write(c);
      });
      from.on('end', () => to.end());
    };
    pass(client, up, dir === 'toTarget');
    pass(up, client, dir === 'toClient');
    const kill = (): void => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      s.on('error', kill);
      s.on('close', kill);
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => server.close(),
      }),
    );
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('benchmark ops reject corrupted bytes', () => {
  let target: Proc;
  const block = patternBlock(SEED);
  const relays: { close(): void }[] = [];

  beforeAll(async () => {
    target = await startScript('target.js', [SEED]);
  });
  afterAll(async () => {
    for (const r of relays) r.close();
    await target.stop();
  });

  const via = async (dir: 'toTarget' | 'toClient', offset: number): Promise<net.Socket> => {
    const r = await corruptingRelay(Number(target.info['port']), dir, offset);
    relays.push(r);
    return connect(r.port);
  };

  it('the same ops pass on an intact stream', async () => {
    const port = Number(target.info['port']);
    await download(await connect(port), 300_000, block);
    await upload(await connect(port), 300_000, block);
    await echoOnce(await connect(port));
    const times = await echoRoundTrips(await connect(port), 20, 100);
    expect(times).toHaveLength(20);
  });

  it('download: one flipped byte from the target', async () => {
    await expect(download(await via('toClient', 200_001), 300_000, block)).rejects.toThrow(/byte mismatch/);
  });

  it('upload: one flipped byte to the target (the target checks and drops the connection)', async () => {
    await expect(upload(await via('toTarget', 9 + 150_000), 300_000, block)).rejects.toThrow(/upload/);
  });

  it('echo: one flipped byte in the answer', async () => {
    await expect(echoOnce(await via('toClient', 3))).rejects.toThrow(/differ/);
    await expect(echoRoundTrips(await via('toClient', 100 * 7 + 42), 20, 100)).rejects.toThrow(/differ/);
  });
});

describe('benchmark suite, smoke mode', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario once and writes JSON and markdown', async () => {
    const log: string[] = [];
    const t0 = Date.now();
    let res: Awaited<ReturnType<typeof main>>;
    try {
      res = await main(['--smoke', `--out=${out}`], (s) => log.push(s));
    } catch (e) {
      throw new Error(`smoke run failed: ${(e as Error).stack}\n--- log ---\n${log.join('\n')}`);
    }
    const { rows, files } = res;
    const sz = SIZES.smoke;
    // Rows per scenario (scenario label → count), in the order they ran.
    const expected: Record<keyof typeof SCENARIOS, [string, number]> = {
      throughput: ['throughput', 7],
      latency: ['latency', 2],
      dials: ['dial rate', 8],
      memory: ['memory', 3 + 3 * sz.idleTunnels.length],
      hol: ['head-of-line', 3],
      agentLoss: ['agent loss', 1],
    };
    for (const [name, [label, n]] of Object.entries(expected)) {
      expect([name, rows.filter((r) => r.scenario === label).length]).toEqual([name, n]);
    }
    expect(rows).toHaveLength(Object.values(expected).reduce((a, [, n]) => a + n, 0));
    for (const r of rows) {
      const what = `${r.scenario} / ${r.name}: tunnel ${r.tunnel}, baseline ${r.baseline}`;
      expect([what, Number.isFinite(r.tunnel) && Number.isFinite(r.baseline)]).toEqual([what, true]);
      // Memory differences (signed rows) may be zero or negative on either side: a process can give memory back.
      if (!r.signed) expect([what, r.tunnel > 0 && r.baseline > 0]).toEqual([what, true]);
    }
    // Bulk transfers go through both frontends, both ways.
    for (const dir of ['down', 'up']) {
      expect(rows.map((r) => r.name)).toContain(`1 tunnel, ${sz.bulkMiB} MiB ${dir}, first transfer after start`);
      expect(rows.map((r) => r.name)).toContain(`1 tunnel, ${sz.bulkMiB} MiB ${dir}`);
      expect(rows.map((r) => r.name)).toContain(`1 tunnel, ${sz.bulkMiB} MiB ${dir}, HTTP CONNECT`);
    }
    // The dial rows are single-use tunnels over both frontends at both concurrencies.
    for (const c of [8, 32]) {
      for (const p of ['gRPC over UDS, new tunnel per dial', 'gRPC over mTLS TCP, new tunnel per dial', 'HTTP CONNECT over UDS']) {
        expect(rows.map((r) => r.name)).toContain(`${sz.dials} dials, concurrency ${c}, ${p}`);
      }
    }
    // The head-of-line scenario says what became of the stalled tunnel.
    const rss = rows.find((r) => r.scenario === 'head-of-line' && r.unit === 'MiB')!;
    expect(rss.note).toMatch(/stalled tunnel (still open at the end|closed during the window)/);

    const json = JSON.parse(readFileSync(files.json, 'utf8')) as { meta: Record<string, unknown>; rows: (Row & { ratio: number })[] };
    expect(json.meta['mode']).toBe('smoke');
    expect(String(json.meta['command'])).toContain('--smoke');
    expect(json.meta['commit'] === null || /^[0-9a-f]{40}$/.test(String(json.meta['commit']))).toBe(true);
    expect(json.rows.map((r) => [r.scenario, r.name, r.tunnel, r.baseline])).toEqual(rows.map((r) => [r.scenario, r.name, r.tunnel, r.baseline]));
    for (const r of json.rows) {
      const ratio = r.tunnel / r.baseline;
      // A signed memory row can have a zero baseline; JSON has no Infinity or NaN and writes null.
      if (Number.isFinite(ratio)) expect(r.ratio).toBeCloseTo(ratio);
      else expect([r.name, r.ratio]).toEqual([r.name, null]);
    }

    const md = readFileSync(files.md, 'utf8');
    expect(md).toContain('| scenario | measurement | tunnel | baseline | tunnel / baseline | note |');
    const tableRows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| scenario'));
    expect(tableRows).toHaveLength(rows.length);
    for (const l of tableRows) expect(l.split(' | ').length).toBeGreaterThanOrEqual(6);
    console.log(`bench smoke: ${rows.length} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 120_000);
});
