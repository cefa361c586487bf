/**
 * The Unix-socket frontend's pre-handshake (src/server/h2-preface.ts),
 * against a real TunnelServer: a normal gRPC client is handed to Node's
 * HTTP/2 natively, an old grpc-go style client that sends the socket path as
 * `:authority` goes through the :authority filter and is still served, and
 * garbage, a short preface, a client that leaves mid-preface or one that
 * never sends a request are closed (or time out) cleanly while the server
 * goes on serving the next client.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type DevPkiFiles, writeDevPki } from '../../../src/certs/dev-ca.js';
import { decodePacket, dialReq, encodePacket, type Packet, PacketType, TEXT } from '../../../src/protocol/index.js';
import { newRegistry } from '../../../src/observability/metrics.js';
import { TunnelServer } from '../../../src/server/index.js';
import { H2_PREFACE } from '../../../src/server/sniffer.js';
import { recordingLogger } from '../../support/agent-peers.js';
import { metricSum } from '../../support/cli-procs.js';
import { testServerConfig, TestProxyClient } from '../../support/server-peers.js';

let dir: string;
let pki: DevPkiFiles;
let uds: string;
let server: TunnelServer;
const registry = newRegistry(false);
const { logger, records } = recordingLogger();
const PREFACE_TIMEOUT_MS = 300;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-h2-preface-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  uds = path.join(dir, 'fe.sock');
  server = new TunnelServer(testServerConfig(pki, { udsName: uds, tcpFrontend: false }), {
    logger,
    registry,
    limits: { h2PrefaceTimeoutMs: PREFACE_TIMEOUT_MS, sniffTimeoutMs: 2_000 },
  });
  await server.start();
}, 30_000);

afterAll(async () => {
  await server?.shutdown({ graceful: false });
  rmSync(dir, { recursive: true, force: true });
});

const filterLogs = (): number => records.filter((r) => r['message'] === 'frontend client served through the :authority filter').length;

/** A normal grpc-js Proxy client: dials, and (there is no agent) gets the server's own DIAL_RSP error. */
async function servedNormally(): Promise<void> {
  const c = new TestProxyClient({ uds });
  try {
    const rsp = await c.dial('10.0.0.1:443');
    expect(rsp.error).toBe(TEXT.noAgent);
  } finally {
    c.close();
  }
}

/** gRPC length-prefixed message. */
function grpcFrame(p: Packet): Buffer {
  const body = encodePacket(p);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** A raw HTTP/2 Proxy call with this :authority; resolves with the first packet the server answers. */
async function rawProxyCall(authority: string): Promise<Packet> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(uds) });
  session.on('error', () => undefined);
  try {
    const req = session.request({
      ':method': 'POST',
      ':path': '/ProxyService/Proxy',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.write(grpcFrame(dialReq('10.0.0.1:443', 77n)));
    let buf = Buffer.alloc(0);
    return await new Promise<Packet>((resolve, reject) => {
      req.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) resolve(decodePacket(buf.subarray(5, 5 + buf.readUInt32BE(1))));
      });
      req.on('error', reject);
      req.on('close', () => reject(new Error(`stream closed (code ${req.rstCode}) before a packet`)));
    });
  } finally {
    session.destroy();
  }
}

/** Connects, sends `bytes` (then ends the socket when `end`), and resolves once the server has closed it. */
function rawSocket(bytes: Buffer, end: boolean): Promise<{ closedByServer: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const s = net.connect(uds);
    const parts: Buffer[] = [];
    let ended = false;
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => undefined);
    s.on('end', () => (ended = true));
    s.on('close', () => resolve({ closedByServer: ended || !end, received: Buffer.concat(parts) }));
    s.write(bytes, () => {
      if (end) s.end();
    });
  });
}

async function badInput(reason: string): Promise<number> {
  return metricSum(await registry.metrics(), 'konnectivity_network_proxy_server_bad_input_total', { source: 'frontend', reason });
}

describe('Unix-socket frontend pre-handshake', () => {
  it('a normal grpc-js client is served natively, not through the :authority filter', async () => {
    const before = filterLogs();
    await servedNormally();
    await servedNormally();
    expect(filterLogs()).toBe(before);
  });

  it('an old grpc-go style client with the socket path as :authority is served through the filter', async () => {
    const before = filterLogs();
    const p = await rawProxyCall('/etc/kubernetes/konnectivity-server/konnectivity-server.socket');
    expect(p.type).toBe(PacketType.DIAL_RSP);
    expect(p.type === PacketType.DIAL_RSP && p.dialResponse).toMatchObject({ random: 77n, error: TEXT.noAgent });
    expect(filterLogs()).toBe(before + 1);
    // A raw client with an ordinary :authority takes the native path.
    const q = await rawProxyCall('localhost');
    expect(q.type === PacketType.DIAL_RSP && q.dialResponse).toMatchObject({ random: 77n, error: TEXT.noAgent });
    expect(filterLogs()).toBe(before + 1);
  });

  it('garbage is refused as bad input and closed; the next client is served', async () => {
    const before = await badInput('not_http');
    const r = await rawSocket(Buffer.from('\x00\x01\x02 garbage that is neither HTTP/2 nor HTTP/1\r\n\r\n', 'latin1'), false);
    expect(r.closedByServer).toBe(true);
    expect(await badInput('not_http')).toBe(before + 1);
    await servedNormally();
  });

  it('a short preface followed by the client leaving is released; the next client is served', async () => {
    const before = await badInput('eof');
    await rawSocket(H2_PREFACE.subarray(0, 10), true);
    await eventually(async () => (await badInput('eof')) === before + 1);
    await servedNormally();
  });

  it('a client that leaves in the middle of its first frames is released; the next client is served', async () => {
    // The whole preface, then half a SETTINGS frame header, then FIN.
    const r = await rawSocket(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 6, 4])]), true);
    // The server had started its pre-handshake: it sent its empty SETTINGS before the client left.
    expect(r.received.subarray(0, 9)).toEqual(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    await servedNormally();
  });

  it('a broken header block is closed after the pre-handshake; the next client is served', async () => {
    const before = await badInput('h2_header_block');
    // The preface, an empty SETTINGS, then a HEADERS frame whose HPACK block is truncated; it never ACKs our SETTINGS.
    const broken = Buffer.from([0, 0, 3, 0x1, 0x4, 0, 0, 0, 1, 0x41, 0x7e, 0x61]);
    const r = await rawSocket(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), broken]), false);
    expect(r.closedByServer).toBe(true);
    expect(await badInput('h2_header_block')).toBe(before + 1);
    await servedNormally();
  });

  it('a client that sends its first request only after the pre-handshake timeout is still served', async () => {
    const before = filterLogs();
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(uds) });
    session.on('error', () => undefined);
    try {
      await new Promise<void>((r) => session.once('remoteSettings', () => r()));
      // Idle past the timeout: the server decides without a request (through the filter).
      await eventuallySync(() => filterLogs() === before + 1, 5_000);
      const req = session.request({ ':method': 'POST', ':path': '/ProxyService/Proxy', 'content-type': 'application/grpc', te: 'trailers' });
      req.write(grpcFrame(dialReq('10.0.0.1:443', 78n)));
      const first = await new Promise<Buffer>((resolve, reject) => {
        req.once('data', resolve);
        req.on('error', reject);
      });
      const p = decodePacket(first.subarray(5, 5 + first.readUInt32BE(1)));
      expect(p.type === PacketType.DIAL_RSP && p.dialResponse).toMatchObject({ random: 78n, error: TEXT.noAgent });
    } finally {
      session.destroy();
    }
  });
});

async function eventually(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function eventuallySync(cond: () => boolean, timeoutMs: number): Promise<void> {
  await eventually(() => Promise.resolve(cond()), timeoutMs);
}
