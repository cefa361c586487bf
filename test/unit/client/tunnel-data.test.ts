import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { writeDevPki, type DevPkiFiles } from '../../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel, TunnelError, type TunnelOptions } from '../../../src/client/index.js';
import { ClientMetrics, newRegistry } from '../../../src/observability/metrics.js';
import { PacketType } from '../../../src/protocol/index.js';
import { FakeProxyServer } from '../../support/fake-proxy-server.js';
import { readAll, readExactly, sha256, startEcho, startTcpTarget, type TcpTarget, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

let dir: string;
let pki: DevPkiFiles;
let fake: FakeProxyServer;
let echo: TcpTarget;
const udsPath = (): string => path.join(dir, 'proxy.sock');
const read = (f: string): string => fs.readFileSync(f, 'utf8');

function endpoint(kind: 'uds' | 'mtls'): TunnelOptions {
  if (kind === 'uds') return { uds: udsPath() };
  return {
    address: `localhost:${fake.port}`,
    tls: { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) },
  };
}

beforeAll(async () => {
  dir = tempDir();
  pki = await writeDevPki(path.join(dir, 'pki'));
  fake = await FakeProxyServer.start({
    uds: udsPath(),
    tls: { ca: read(pki.caCert), cert: read(pki.serverCert), key: read(pki.serverKey) },
  });
  echo = await startEcho();
});

afterAll(async () => {
  await fake.stop();
  await echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(['uds', 'mtls'] as const)('a tunnel over %s', (kind) => {
  let tunnel: Tunnel;
  beforeAll(async () => {
    tunnel = await createTunnel(endpoint(kind));
  });
  afterAll(async () => {
    await tunnel.close();
  });

  it('moves 1 MiB of random bytes each way without loss or reordering', async () => {
    const toTarget = randomBytes(MiB);
    const fromTarget = randomBytes(MiB);
    let targetGot: Promise<Buffer> | undefined;
    const target = await startTcpTarget((s) => {
      targetGot = readExactly(s, MiB);
      s.write(fromTarget);
    });
    try {
      const sock = await tunnel.dial(target.address);
      const received = readExactly(sock, MiB);
      sock.write(toTarget);
      expect(sha256(await received)).toBe(sha256(fromTarget));
      expect(sha256(await targetGot!)).toBe(sha256(toTarget));
      sock.end();
      await once(sock, 'finish');
      expect(sock.bytesRead).toBe(MiB);
      expect(sock.bytesWritten).toBe(MiB);
    } finally {
      await target.close();
    }
  });

  it('ends with CLOSE_REQ and finishes when CLOSE_RSP arrives', async () => {
    const sock = await tunnel.dial(echo.address);
    sock.write('ping');
    expect((await readExactly(sock, 4)).toString()).toBe('ping');
    const closed = once(sock, 'close');
    sock.end();
    await once(sock, 'finish');
    const req = await fake.waitFor((p) => p.type === PacketType.CLOSE_REQ && p.closeRequest.connectID === sock.connectID);
    expect(req.type).toBe(PacketType.CLOSE_REQ);
    sock.resume(); // consume the EOF so the socket can close
    await closed;
    await tunnel.idle();
    expect(tunnel.openStreams).toBe(0);
  });
});

describe('one tunnel, many connections', () => {
  let tunnel: Tunnel;
  const registry = newRegistry(false);
  const metrics = new ClientMetrics(registry);
  beforeAll(async () => {
    tunnel = await createTunnel({ uds: udsPath(), metrics });
  });
  afterAll(async () => {
    await tunnel.close();
  });

  it('dials 30 connections at once, each on its own stream, with 63-bit dial ids', async () => {
    const before = fake.received(PacketType.DIAL_REQ).length;
    const payloads = Array.from({ length: 30 }, () => randomBytes(32 * 1024));
    const socks = await Promise.all(payloads.map(() => tunnel.dial(echo.address)));
    expect(new Set(socks.map((s) => s.connectID)).size).toBe(30);
    const results = await Promise.all(
      socks.map(async (s, i) => {
        const got = readExactly(s, payloads[i]!.length);
        s.write(payloads[i]);
        return got;
      }),
    );
    results.forEach((r, i) => expect(r.equals(payloads[i]!)).toBe(true));
    expect((await registry.getSingleMetric('konnectivity_network_proxy_client_client_connections')!.get()).values).toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { status: 'ok' }, value: 30 })]),
    );

    const reqs = fake.received(PacketType.DIAL_REQ).slice(before);
    expect(reqs).toHaveLength(30);
    const randoms = reqs.map((p) => p.dialRequest.random);
    expect(new Set(randoms).size).toBe(30);
    for (const r of randoms) {
      expect(r > 0n).toBe(true);
      expect(r < 1n << 63n).toBe(true);
    }
    // 63 random bits: the chance that 30 draws all fit in 53 bits is 2^-300.
    expect(randoms.some((r) => r >= 1n << 53n)).toBe(true);
    expect(reqs.every((p) => p.dialRequest.protocol === 'tcp' && p.dialRequest.address === echo.address)).toBe(true);

    for (const s of socks) s.destroy();
    await tunnel.idle();
    expect(tunnel.openStreams).toBe(0);
    // every destroyed connection told the server
    const closeReqs = new Set(fake.received(PacketType.CLOSE_REQ).map((p) => p.closeRequest.connectID));
    for (const s of socks) expect(closeReqs.has(s.connectID)).toBe(true);
  });

  it('delivers everything the remote sent, then EOF, when the server closes the connection', async () => {
    const payload = randomBytes(300 * 1024);
    const target = await startTcpTarget((s) => s.end(payload));
    try {
      const sock = await tunnel.dial(target.address);
      const got = await readAll(sock);
      expect(sha256(got)).toBe(sha256(payload));
      await once(sock, 'close');
      expect(sock.errored).toBeNull();
    } finally {
      await target.close();
    }
  });

  it('keeps a slow reader from buffering: the server is pushed back and no byte is lost', async () => {
    const total = 8 * MiB;
    const payload = randomBytes(total);
    const target = await startTcpTarget((s) => s.end(payload));
    try {
      const pushedBackBefore = fake.writesBackpressured;
      const sentBefore = fake.bytesToClients;
      const sock = await tunnel.dial(target.address);
      // Not reading yet: the fake server must be pushed back by flow control.
      if (fake.writesBackpressured === pushedBackBefore) await once(fake, 'backpressure');
      expect(fake.bytesToClients - sentBefore).toBeLessThan(total);

      let maxBuffered = 0;
      const parts: Buffer[] = [];
      const slow = new Writable({
        highWaterMark: 16 * 1024,
        write(chunk: Buffer, _enc, cb) {
          maxBuffered = Math.max(maxBuffered, sock.readableLength);
          parts.push(chunk);
          setImmediate(cb); // a reader that yields between every chunk
        },
      });
      sock.pipe(slow);
      await once(slow, 'finish');
      const got = Buffer.concat(parts);
      expect(got.length).toBe(total);
      expect(sha256(got)).toBe(sha256(payload));
      expect(maxBuffered).toBeLessThanOrEqual(2 * MiB);
    } finally {
      await target.close();
    }
  });
});

describe('createTunnel', () => {
  it('fails with ERR_TUNNEL_CONNECT when nothing listens on the socket', async () => {
    await expect(createTunnel({ uds: path.join(dir, 'nobody.sock') })).rejects.toMatchObject({
      code: 'ERR_TUNNEL_CONNECT',
    });
  });

  it('fails with ERR_TUNNEL_CONNECT when the server does not trust the client certificate', async () => {
    const other = await writeDevPki(path.join(dir, 'other-pki'));
    const p = createTunnel({
      address: `localhost:${fake.port}`,
      tls: { ca: read(pki.caCert), cert: read(other.clientCert), key: read(other.clientKey) },
      connectTimeoutMs: 5000,
    });
    await expect(p).rejects.toBeInstanceOf(TunnelError);
    await expect(p).rejects.toMatchObject({ code: 'ERR_TUNNEL_CONNECT' });
  });

  it('refuses a key without a certificate', async () => {
    await expect(
      createTunnel({ address: '127.0.0.1:1', tls: { ca: read(pki.caCert), key: read(pki.clientKey) } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});
