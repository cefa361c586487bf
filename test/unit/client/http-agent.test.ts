import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { createHttpAgent, createHttpsAgent, createTunnel, type Tunnel } from '../../../src/client/index.js';
import { PacketType } from '../../../src/protocol/index.js';
import { FakeProxyServer } from '../../support/fake-proxy-server.js';
import { sha256, tempDir } from './helpers.js';

let dir: string;
let fake: FakeProxyServer;
let tunnel: Tunnel;
let ca: DevCA;

/** Starts an HTTP(S) server on 127.0.0.1:0 that counts its TCP connections and answers with the request body's hash. */
async function startServer(make: (h: http.RequestListener) => http.Server): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = make((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, bodySha: sha256(Buffer.concat(parts)), remotePort: req.socket.remotePort }));
    });
  });
  server.on('connection', () => connections++);
  server.on('secureConnection', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends a request and returns status and parsed JSON. */
function request(
  mod: typeof http | typeof https,
  url: string,
  opts: http.RequestOptions,
  body?: Buffer,
): Promise<{ status: number; json: { path: string; bodySha: string; remotePort: number } }> {
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: body ? 'POST' : 'GET', ...opts }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString()) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = tempDir();
  ca = await DevCA.create();
  fake = await FakeProxyServer.start({ uds: path.join(dir, 'proxy.sock') });
  tunnel = await createTunnel({ uds: path.join(dir, 'proxy.sock') });
});

afterAll(async () => {
  await tunnel.close();
  await fake.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createHttpAgent', () => {
  it('sends requests through the tunnel and reuses kept-alive connections', async () => {
    const srv = await startServer((h) => http.createServer(h));
    const agent = createHttpAgent(tunnel, { keepAlive: true });
    try {
      const address = `127.0.0.1:${srv.port}`;
      const dialsBefore = fake.received(PacketType.DIAL_REQ).filter((p) => p.dialRequest.address === address).length;
      const a = await request(http, `http://${address}/one`, { agent });
      const body = randomBytes(512 * 1024);
      const b = await request(http, `http://${address}/two`, { agent }, body);
      expect(a).toMatchObject({ status: 200, json: { path: '/one' } });
      expect(b).toMatchObject({ status: 200, json: { path: '/two', bodySha: sha256(body) } });
      // one TCP connection at the server, one dial through the tunnel
      expect(a.json.remotePort).toBe(b.json.remotePort);
      expect(srv.connections()).toBe(1);
      const dials = fake.received(PacketType.DIAL_REQ).filter((p) => p.dialRequest.address === address).length;
      expect(dials - dialsBefore).toBe(1);
    } finally {
      agent.destroy();
      await srv.close();
    }
  });

  it('reports a failed dial as the request error', async () => {
    const agent = createHttpAgent(tunnel);
    try {
      await expect(request(http, 'http://127.0.0.1:1/', { agent })).rejects.toMatchObject({
        code: 'ERR_DIAL_ENDPOINT',
        reason: 'endpoint',
        message: 'dial tcp 127.0.0.1:1: connect: connection refused',
      });
    } finally {
      agent.destroy();
    }
  });
});

describe('createHttpsAgent', () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    const leaf = await ca.issue({ commonName: 'target', dnsNames: ['target.internal'], usage: 'server' });
    srv = await startServer((h) => https.createServer({ cert: leaf.cert, key: leaf.key }, h));
  });
  afterAll(async () => {
    await srv.close();
  });

  it('runs TLS end to end over the tunnel, checking the remote certificate', async () => {
    // The name is only known on the far side: map it to the address the fake can dial.
    const agent = createHttpsAgent(tunnel, { ca: ca.certPem, keepAlive: true, dialAddress: (_host, port) => `127.0.0.1:${port}` });
    try {
      const url = `https://target.internal:${srv.port}`;
      const a = await request(https, `${url}/a`, { agent });
      const b = await request(https, `${url}/b`, { agent }, Buffer.from('hello'));
      expect(a).toMatchObject({ status: 200, json: { path: '/a' } });
      expect(b).toMatchObject({ status: 200, json: { path: '/b', bodySha: sha256(Buffer.from('hello')) } });
      expect(a.json.remotePort).toBe(b.json.remotePort);
    } finally {
      agent.destroy();
    }
  });

  it('fails the request when the remote certificate is not trusted', async () => {
    const stranger = await DevCA.create('stranger');
    const agent = createHttpsAgent(tunnel, { ca: stranger.certPem, dialAddress: (_h, port) => `127.0.0.1:${port}` });
    try {
      await expect(request(https, `https://target.internal:${srv.port}/`, { agent })).rejects.toMatchObject({
        code: expect.stringMatching(/CERT|SIGNATURE|VERIFY/),
      });
    } finally {
      agent.destroy();
    }
  });
});
