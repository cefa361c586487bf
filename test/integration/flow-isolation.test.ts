/**
 * Head-of-line isolation with credits, through a real server and agent (in
 * process, Unix-socket frontend, TCP targets on 127.0.0.1):
 * - download: a client stops reading while its target offers 200 MiB. The
 *   target's sent count stops near the windows plus socket buffers, the
 *   server holds at most one window for it (admin /connections queuedBytes),
 *   and meanwhile other connections complete 4 MiB exchanges, SHA-256
 *   checked both ways. When the client reads again, every byte of the
 *   numbered stream arrives intact and in order.
 * - upload: the same with the target not reading what the client sends; the
 *   agent holds at most one window for it (its /connections queuedBytes).
 * - the same download stall through an HTTP CONNECT tunnel on the Unix socket.
 * A connection stalled from the start keeps the announced window (both
 * ways); a bulk download to a reader that keeps up grows the server's to the
 * maximum (the admin views' flowWindowBytes), bytes checked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FLOW_WINDOW_BYTES } from '../../src/agent/limits.js';
import { type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { DEFAULT_LIMITS } from '../../src/server/limits.js';
import {
  agentStreams,
  CHUNK,
  drainOrClose,
  MiB,
  numberedChunk,
  readAll,
  type RunningAgent,
  type RunningServer,
  serverConnections,
  serverStreams,
  settled,
  startFirehose,
  startSink,
  startTestAgent,
  startTestServer,
  waitFor,
} from '../support/flow-peers.js';
import { exchange, type HashTarget, startHashTarget } from '../support/hash-target.js';

const OFFERED = 200 * MiB;
const OTHERS = 4;
const OTHER_SIZE = 4 * MiB;
/**
 * What one stalled connection may have taken from its sender: the credit
 * window, the HTTP/2 windows of the client's channel and the agent port, and
 * the kernel buffers of a loopback TCP and a Unix socket (several MiB on
 * Linux with autotuning). Far below what was offered.
 */
const STALL_BOUND = 24 * MiB;

let dir: string;
let pki: DevPkiFiles;
let s: RunningServer;
let a: RunningAgent;
let hashTarget: HashTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-flow-hol-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  hashTarget = await startHashTarget(OTHER_SIZE);
  s = await startTestServer(dir, pki);
  a = await startTestAgent(s.agentPort, pki);
  await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.flowControl, 'flow-controlled agent stream');
}, 30_000);

afterAll(async () => {
  await a?.agent.stop();
  await s?.server.shutdown({ graceful: false });
  await hashTarget?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** OTHERS concurrent 4 MiB exchanges on their own tunnel, every byte checked both ways. */
async function othersComplete(): Promise<number> {
  const tunnel = await createTunnel({ uds: s.uds });
  try {
    const results = await Promise.all(Array.from({ length: OTHERS }, async () => exchange(await tunnel.dial(hashTarget.address), OTHER_SIZE)));
    await waitFor(() => results.every((r) => hashTarget.records.has(r.key)), (ok) => ok, 'target records');
    for (const r of results) {
      const t = hashTarget.records.get(r.key)!;
      expect(t.receivedBytes).toBe(OTHER_SIZE);
      expect(t.receivedSha).toBe(r.sentSha);
      expect(r.receivedBytes).toBe(OTHER_SIZE);
      expect(r.receivedSha).toBe(t.sentSha);
    }
    return results.length;
  } finally {
    await tunnel.close();
  }
}

describe('one stalled connection with credits', () => {
  it('download: the reader stops; memory stays within the window, the others finish, then every byte arrives in order', async () => {
    const fire = await startFirehose(OFFERED);
    const tunnel: Tunnel = await createTunnel({ uds: s.uds });
    try {
      const sock = await tunnel.dial(fire.address);
      sock.pause();
      await waitFor(() => fire.conns.length, (n) => n === 1, 'target connection');
      const conn = fire.conns[0]!;
      const stalledAt = await settled(() => conn.sent, 1000);
      expect(stalledAt).toBeGreaterThan(0);
      expect(stalledAt).toBeLessThan(STALL_BOUND);
      const [view] = await serverConnections(s.adminPort);
      expect(view).toMatchObject({ address: fire.address, flowControl: true });
      expect(view!.queuedBytes).toBeLessThanOrEqual(DEFAULT_LIMITS.flowWindowBytes);
      // Stalled from the start: its window never grew.
      expect(view!.flowWindowBytes).toBe(DEFAULT_LIMITS.flowWindowBytes);

      // The other connections of the same agent are not held up.
      expect(await othersComplete()).toBe(OTHERS);
      // Still stalled where it was, nothing more taken from the target meanwhile beyond the bound.
      expect(conn.sent).toBeLessThan(STALL_BOUND);

      const all = readAll(sock);
      sock.resume();
      const got = await all;
      expect(got.bytes).toBe(OFFERED);
      expect(got.sha).toBe(await conn.done);
    } finally {
      await tunnel.close();
      await fire.close();
    }
  }, 40_000);

  it('upload: the target stops reading; the agent holds at most a window, the others finish, then every byte arrives in order', async () => {
    const sink = await startSink();
    sink.setReading(false);
    const tunnel: Tunnel = await createTunnel({ uds: s.uds });
    const TOTAL = 100 * MiB;
    try {
      const sock = await tunnel.dial(sink.address);
      const h = createHash('sha256');
      let written = 0;
      const writing = (async () => {
        for (let i = 0; written < TOTAL; i++) {
          const c = numberedChunk(i);
          h.update(c);
          written += CHUNK;
          if (!sock.write(c)) await drainOrClose(sock);
          if (sock.destroyed) throw new Error(`tunnel socket closed after ${written} bytes`);
        }
        return h.digest('hex');
      })();
      writing.catch(() => undefined);
      await waitFor(() => sink.conns.length, (n) => n === 1, 'target connection');
      const stalledAt = await settled(() => written, 1000);
      expect(stalledAt).toBeLessThan(STALL_BOUND);
      const view = await agentStreams(a.adminPort);
      const conn = view[0]!.endpointConnections.find((c) => c.address === sink.address);
      expect(conn).toBeDefined();
      expect(view[0]!.flowControl).toBe(true);
      expect(conn!.queuedBytes).toBeLessThanOrEqual(FLOW_WINDOW_BYTES);
      expect(conn!.flowWindowBytes).toBe(FLOW_WINDOW_BYTES);

      expect(await othersComplete()).toBe(OTHERS);

      const target = sink.conns[0]!;
      const received = target.hashOf(TOTAL);
      sink.setReading(true);
      const sent = await writing;
      expect(await received).toBe(sent);
      expect(target.received).toBe(TOTAL);
      sock.end();
    } finally {
      await tunnel.close();
      await sink.close();
    }
  }, 40_000);

  it('HTTP CONNECT download: the client socket stops reading; the server holds at most a window, then every byte arrives', async () => {
    const TOTAL = 64 * MiB;
    const fire = await startFirehose(TOTAL);
    const sock = net.connect(s.uds);
    try {
      sock.write(`CONNECT ${fire.address} HTTP/1.1\r\nHost: ${fire.address}\r\n\r\n`);
      // Read the response head only, then stop reading.
      let head = Buffer.alloc(0);
      let rest = Buffer.alloc(0);
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer): void => {
          head = Buffer.concat([head, d]);
          const i = head.indexOf('\r\n\r\n');
          if (i < 0) return;
          rest = head.subarray(i + 4);
          head = head.subarray(0, i);
          sock.off('data', onData);
          sock.pause();
          resolve();
        };
        sock.on('data', onData);
        sock.once('error', reject);
      });
      expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
      await waitFor(() => fire.conns.length, (n) => n === 1, 'target connection');
      const conn = fire.conns[0]!;
      const stalledAt = await settled(() => conn.sent, 1000);
      expect(stalledAt).toBeLessThan(STALL_BOUND);
      const [view] = await serverConnections(s.adminPort);
      expect(view).toMatchObject({ address: fire.address, flowControl: true });
      expect(view!.queuedBytes).toBeLessThanOrEqual(DEFAULT_LIMITS.flowWindowBytes);
      expect(await othersComplete()).toBe(OTHERS);

      const h = createHash('sha256').update(rest);
      let bytes = rest.length;
      const done = new Promise<void>((resolve, reject) => {
        sock.on('data', (d: Buffer) => {
          h.update(d);
          bytes += d.length;
          if (bytes >= TOTAL) resolve();
        });
        sock.once('close', () => reject(new Error(`closed after ${bytes} bytes`)));
      });
      sock.resume();
      await done;
      expect(bytes).toBe(TOTAL);
      expect(h.digest('hex')).toBe(await conn.done);
    } finally {
      sock.destroy();
      await fire.close();
    }
  }, 40_000);
});

// The agent grows its windows the same way (FlowLink, unit-tested); in one process an upload is
// never short of the agent's credit, so only the download shows it here.
describe('windows grow for bulk transfers to readers that keep up', () => {
  const TOTAL = 64 * MiB;
  const CHECK_AT = 40 * MiB;

  it('download: the server grows its window for the connection to the maximum; every byte arrives', async () => {
    const fire = await startFirehose(TOTAL);
    const tunnel: Tunnel = await createTunnel({ uds: s.uds });
    try {
      const sock = await tunnel.dial(fire.address);
      const h = createHash('sha256');
      let got = 0;
      let view: Awaited<ReturnType<typeof serverConnections>>[number] | undefined;
      const done = new Promise<void>((resolve, reject) => {
        sock.on('data', (d: Buffer) => {
          h.update(d);
          got += d.length;
          if (got >= CHECK_AT && view === undefined && !sock.isPaused()) {
            // Look while the connection is still open, then read on.
            sock.pause();
            serverConnections(s.adminPort).then((v) => {
              view = v.find((c) => c.address === fire.address);
              sock.resume();
            }, reject);
          }
        });
        sock.on('end', () => resolve());
        sock.on('error', reject);
      });
      await done;
      expect(view).toMatchObject({ flowControl: true, flowWindowBytes: DEFAULT_LIMITS.flowMaxWindowBytes });
      expect(DEFAULT_LIMITS.flowMaxWindowBytes).toBeGreaterThan(DEFAULT_LIMITS.flowWindowBytes);
      expect(got).toBe(TOTAL);
      expect(h.digest('hex')).toBe(await fire.conns[0]!.done);
    } finally {
      await tunnel.close();
      await fire.close();
    }
  }, 40_000);
});
