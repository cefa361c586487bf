import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTunnel, MAX_DATA_CHUNK, type Tunnel } from '../../../src/client/index.js';
import { joinHostPort } from '../../../src/client/http-agent.js';
import { splitHostPort } from '../../../src/client/tunnel-socket.js';
import { ClientMetrics, newRegistry } from '../../../src/observability/metrics.js';
import { PacketType } from '../../../src/protocol/index.js';
import { FakeProxyServer } from '../../support/fake-proxy-server.js';
import { readExactly, sha256, startEcho, type TcpTarget, tempDir } from './helpers.js';

let dir: string;
let fake: FakeProxyServer;
let echo: TcpTarget;
let tunnel: Tunnel;
const registry = newRegistry(false);
const metrics = new ClientMetrics(registry);

beforeAll(async () => {
  dir = tempDir();
  fake = await FakeProxyServer.start({ uds: path.join(dir, 'proxy.sock') });
  echo = await startEcho();
  tunnel = await createTunnel({ uds: path.join(dir, 'proxy.sock'), metrics });
});

afterAll(async () => {
  await tunnel.close();
  await fake.stop();
  await echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('TunnelSocket', () => {
  it('splits a large write into DATA packets a grpc-go peer accepts (at most 1 MiB each)', async () => {
    const sock = await tunnel.dial(echo.address);
    const big = randomBytes(2 * MAX_DATA_CHUNK + 12345);
    const back = readExactly(sock, big.length);
    sock.write(big);
    expect(sha256(await back)).toBe(sha256(big));
    const sizes = fake.received(PacketType.DATA)
      .filter((p) => p.data.connectID === sock.connectID)
      .map((p) => p.data.data.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(big.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_DATA_CHUNK);
    sock.destroy();
    await tunnel.idle();
  });

  it('describes its peer like a net.Socket', async () => {
    const sock = await tunnel.dial(echo.address);
    expect(sock.remoteAddress).toBe('127.0.0.1');
    expect(sock.remotePort).toBe(echo.port);
    expect(sock.remoteFamily).toBe('IPv4');
    expect(sock.dialAddress).toBe(echo.address);
    expect(typeof sock.connectID).toBe('bigint');
    // harmless no-ops that Node's http client calls
    expect(sock.setNoDelay(true).setKeepAlive(true, 1000).ref().unref()).toBe(sock);
    sock.destroy();
    await tunnel.idle();
  });

  it("emits 'timeout' after the idle time set with setTimeout", async () => {
    const sock = await tunnel.dial(echo.address);
    sock.setTimeout(50);
    await once(sock, 'timeout');
    expect(sock.destroyed).toBe(false); // like net.Socket, the listener decides
    sock.destroy();
    await tunnel.idle();
  });

  it('counts connections by status and returns to zero when they close', async () => {
    const value = async (status: string): Promise<number> =>
      (await registry.getSingleMetric('konnectivity_network_proxy_client_client_connections')!.get()).values.find(
        (v) => v.labels.status === status,
      )?.value ?? 0;
    const sock = await tunnel.dial(echo.address);
    expect(await value('ok')).toBe(1);
    sock.end();
    sock.resume();
    await once(sock, 'close');
    await tunnel.idle();
    for (const s of ['created', 'dialing', 'ok', 'closing']) expect(await value(s)).toBe(0);
    const packets = await registry.getSingleMetric('konnectivity_network_proxy_client_stream_packets_total')!.get();
    expect(packets.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { segment: 'from_client', packet_type: 'DIAL_REQ' } }),
        expect.objectContaining({ labels: { segment: 'to_client', packet_type: 'DIAL_RSP' } }),
      ]),
    );
  });
});

describe('host:port helpers', () => {
  it('split and join IPv4, names and bracketed IPv6', () => {
    expect(splitHostPort('10.0.0.1:443')).toEqual({ host: '10.0.0.1', port: 443 });
    expect(splitHostPort('my-cluster:6443')).toEqual({ host: 'my-cluster', port: 6443 });
    expect(splitHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(joinHostPort('::1', 80)).toBe('[::1]:80');
    expect(joinHostPort('[::1]', 80)).toBe('[::1]:80');
    expect(joinHostPort('example.com', 443)).toBe('example.com:443');
  });
});
