import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { writeDevPki } from '../../src/certs/dev-ca.js';
import { silentLogger } from '../../src/observability/logger.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { closeReq, data, dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { EchoTarget, type FakeAgentStream, FakeProxyServer } from '../support/agent-peers.js';

let dir: string;
let server: FakeProxyServer;
let echo: EchoTarget;
let agent: TunnelAgent;
let s: FakeAgentStream;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  const pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  server = await FakeProxyServer.start({ serverID: 's1', pki });
  echo = await EchoTarget.start();
  agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: server.port,
      caCert: pki.caCert,
      healthServerPort: -1,
      adminServerPort: -1,
    }),
    { logger: silentLogger(), registry: newRegistry(false) },
  );
  await agent.start();
  s = await server.nextStream();
});

afterAll(async () => {
  await agent.stop();
  expect(agent.stats()).toEqual({ serverConnections: 0, endpointConnections: 0, pendingDials: 0 });
  server.stop();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

const rspFor = (random: bigint) => (p: Packet) => p.type === PacketType.DIAL_RSP && p.dialResponse.random === random;

async function readData(id: bigint, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const p = await s.next((q) => q.type === PacketType.DATA && q.data.connectID === id);
    if (p.type !== PacketType.DATA) throw new Error('unreachable');
    parts.push(Buffer.from(p.data.data));
    got += p.data.data.length;
  }
  return Buffer.concat(parts);
}

describe('agent data path with real TCP targets', () => {
  it('dials a TCP target, echoes 1 MiB byte for byte, and closes on CLOSE_REQ', async () => {
    const random = (1n << 62n) + 12345n; // beyond 2^53: must survive as a bigint
    s.send(dialReq(echo.address, random));
    const rsp = await s.next(rspFor(random));
    if (rsp.type !== PacketType.DIAL_RSP) throw new Error('unreachable');
    expect(rsp.dialResponse.error).toBe('');
    const id = rsp.dialResponse.connectID;
    expect(id).toBeGreaterThan(0n);

    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    for (let off = 0; off < payload.length; off += 32 * 1024) s.send(data(id, payload.subarray(off, off + 32 * 1024)));
    const back = await readData(id, payload.length);
    expect(back.equals(payload)).toBe(true);

    s.send(closeReq(id));
    const close = await s.next((p) => p.type === PacketType.CLOSE_RSP);
    expect(close.type === PacketType.CLOSE_RSP && close.closeResponse).toEqual({ connectID: id, error: '' });
    await echo.allClosed();
    expect(agent.stats().endpointConnections).toBe(0);
  });

  it('answers a refused dial with the Go error text', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise((r) => dead.close(r));
    s.send(dialReq(`127.0.0.1:${port}`, 7n));
    const rsp = await s.next(rspFor(7n));
    expect(rsp.type === PacketType.DIAL_RSP && rsp.dialResponse).toEqual({
      random: 7n,
      connectID: 0n,
      error: `dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
  });

  it('sends CLOSE_RSP when the target closes the connection', async () => {
    const closer = net.createServer((c) => c.end('bye'));
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    const port = (closer.address() as net.AddressInfo).port;
    s.send(dialReq(`127.0.0.1:${port}`, 8n));
    const rsp = await s.next(rspFor(8n));
    if (rsp.type !== PacketType.DIAL_RSP) throw new Error('unreachable');
    const id = rsp.dialResponse.connectID;
    expect((await readData(id, 3)).toString()).toBe('bye');
    const close = await s.next((p) => p.type === PacketType.CLOSE_RSP && p.closeResponse.connectID === id);
    expect(close.type === PacketType.CLOSE_RSP && close.closeResponse.error).toBe('');
    await new Promise((r) => closer.close(r));
  });
});
