/**
 * The client library's HTTP/2 transport (the default) against a raw
 * node:http2 server that plays a proxy server's frontend: what it puts on
 * the wire, how it reads gRPC statuses, reconnection and keepalive; and the
 * grpc-js transport, still selectable, against the fake grpc-js server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { createTunnel, DialError, type Tunnel, TunnelError } from '../../../src/client/index.js';
import { data, dialRsp, type Packet, PacketType } from '../../../src/protocol/index.js';
import { frameMessage, GrpcMessageReader } from '../../../src/transport/grpc-messages.js';
import { FakeProxyServer } from '../../support/fake-proxy-server.js';
import { readExactly, sha256, tempDir } from './helpers.js';

let dir: string;
const tunnels: Tunnel[] = [];

beforeAll(() => {
  dir = tempDir();
});
afterEach(async () => {
  for (const t of tunnels.splice(0)) await t.close();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface RawServer {
  uds: string;
  sessions: http2.ServerHttp2Session[];
  headers: http2.IncomingHttpHeaders[];
  pings: number;
  close(): Promise<void>;
}

/** A raw HTTP/2 server on a Unix socket; `onStream` answers each Proxy stream with the packets it reads. */
async function rawServer(
  name: string,
  onStream: (s: http2.ServerHttp2Stream, first: Packet, srv: RawServer) => void,
): Promise<RawServer> {
  const uds = path.join(dir, `${name}.sock`);
  const server = http2.createServer();
  const rec: RawServer = {
    uds,
    sessions: [],
    headers: [],
    pings: 0,
    close: async () => {
      for (const s of rec.sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('session', (s: http2.ServerHttp2Session) => {
    rec.sessions.push(s);
    s.on('ping', () => rec.pings++);
    s.on('error', () => undefined);
  });
  server.on('stream', (s, headers) => {
    rec.headers.push(headers);
    s.on('error', () => undefined);
    const reader = new GrpcMessageReader(1 << 20);
    const got: Packet[] = [];
    let started = false;
    s.on('data', (c: Buffer) => {
      reader.push(c, got);
      if (!started && got.length > 0) {
        started = true;
        onStream(s, got[0]!, rec);
      }
    });
  });
  await new Promise<void>((r) => server.listen(uds, r));
  return rec;
}

/** Answers a DIAL_REQ with DIAL_RSP (connection 7) and then `payload` as DATA. */
function answerDial(payload: Buffer) {
  return (s: http2.ServerHttp2Stream, first: Packet): void => {
    if (first.type !== PacketType.DIAL_REQ) throw new Error('expected DIAL_REQ');
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.write(frameMessage(dialRsp(first.dialRequest.random, 7n, '')));
    s.write(frameMessage(data(7n, payload)));
  };
}

async function tunnelTo(uds: string, extra: Record<string, unknown> = {}): Promise<Tunnel> {
  const t = await createTunnel({ uds, ...extra });
  tunnels.push(t);
  return t;
}

describe('the HTTP/2 transport (default)', () => {
  it('sends what a grpc-js channel sends: POST /ProxyService/Proxy, application/grpc, te: trailers, framed packets', async () => {
    const payload = randomBytes(200 * 1024);
    const srv = await rawServer('wire', answerDial(payload));
    try {
      const t = await tunnelTo(srv.uds);
      const sock = await t.dial('10.0.0.1:443');
      expect(sha256(await readExactly(sock, payload.length))).toBe(sha256(payload));
      sock.destroy();
      const h = srv.headers[0]!;
      expect(h[':method']).toBe('POST');
      expect(h[':path']).toBe('/ProxyService/Proxy');
      expect(h['content-type']).toBe('application/grpc');
      expect(h.te).toBe('trailers');
      expect(h['user-agent']).toMatch(/^tke-anp-tunnel-client node-http2\//);
      expect(h['grpc-accept-encoding']).toBe('identity');
    } finally {
      await srv.close();
    }
  });

  it('fails a dial with the status of a trailers-only answer, its message percent-decoded', async () => {
    const srv = await rawServer('status', (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'no%20agent%20here' }, { endStream: true });
    });
    try {
      const t = await tunnelTo(srv.uds);
      const err = (await t.dial('10.0.0.1:443').catch((e: unknown) => e)) as DialError;
      expect(err).toBeInstanceOf(DialError);
      expect(err.reason).toBe('streamsetup');
      expect(err.message).toBe('failed to open proxy stream: no agent here');
    } finally {
      await srv.close();
    }
  });

  it('reads a non-200 HTTP answer as the gRPC status the spec maps it to (503: unavailable)', async () => {
    const srv = await rawServer('http503', (s) => s.respond({ ':status': 503 }, { endStream: true }));
    try {
      const t = await tunnelTo(srv.uds);
      const err = (await t.dial('10.0.0.1:443').catch((e: unknown) => e)) as DialError;
      expect(err.reason).toBe('streamsetup');
      expect(err.message).toMatch(/HTTP 503/);
    } finally {
      await srv.close();
    }
  });

  it('connects again for the next dial after the server closed the connection', async () => {
    const srv = await rawServer('again', answerDial(Buffer.from('hello')));
    try {
      const t = await tunnelTo(srv.uds);
      const first = await t.dial('10.0.0.1:443');
      expect((await readExactly(first, 5)).toString()).toBe('hello');
      first.destroy();
      srv.sessions[0]!.close(); // GOAWAY, then the connection ends
      await once(srv.sessions[0]!, 'close');
      const second = await t.dial('10.0.0.1:443');
      expect((await readExactly(second, 5)).toString()).toBe('hello');
      second.destroy();
      expect(srv.sessions).toHaveLength(2);
    } finally {
      await srv.close();
    }
  });

  it('sends keepalive PINGs when grpc.keepalive_time_ms is set', async () => {
    const srv = await rawServer('ping', answerDial(Buffer.from('x')));
    try {
      await tunnelTo(srv.uds, { channelOptions: { 'grpc.keepalive_time_ms': 20 } });
      const deadline = Date.now() + 5000;
      while (srv.pings < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(srv.pings).toBeGreaterThanOrEqual(2);
    } finally {
      await srv.close();
    }
  });

  it('refuses channel options only grpc-js has, naming them and the way out', async () => {
    const err = (await createTunnel({ uds: path.join(dir, 'none.sock'), channelOptions: { 'grpc.service_config': '{}' } }).catch(
      (e: unknown) => e,
    )) as TunnelError;
    expect(err).toBeInstanceOf(TunnelError);
    expect(err.code).toBe('ERR_INVALID_OPTIONS');
    expect(err.message).toMatch(/channelOptions grpc\.service_config: only the grpc-js transport has it; set transport: 'grpc-js'/);
    const bad = (await createTunnel({ uds: path.join(dir, 'none.sock'), transport: 'quic' as 'http2' }).catch((e: unknown) => e)) as TunnelError;
    expect(bad.message).toBe('transport: expected "http2" or "grpc-js", got "quic"');
  });

  it('fails createTunnel with ERR_TUNNEL_CONNECT and the cause when nothing listens', async () => {
    const err = (await createTunnel({ uds: path.join(dir, 'absent.sock'), connectTimeoutMs: 2000 }).catch((e: unknown) => e)) as TunnelError;
    expect(err.code).toBe('ERR_TUNNEL_CONNECT');
    expect(err.message).toMatch(/^cannot connect to the proxy server at unix:.*absent\.sock: .*ENOENT/);
  });
});

describe('the grpc-js transport (transport: "grpc-js")', () => {
  it('still moves bytes both ways through a proxy server', async () => {
    const fake = await FakeProxyServer.start({ uds: path.join(dir, 'fake.sock') });
    const { startTcpTarget } = await import('./helpers.js');
    const up = randomBytes(300 * 1024);
    const down = randomBytes(300 * 1024);
    let targetGot: Promise<Buffer> | undefined;
    const target = await startTcpTarget((s) => {
      targetGot = readExactly(s, up.length);
      s.write(down);
    });
    try {
      const t = await tunnelTo(path.join(dir, 'fake.sock'), { transport: 'grpc-js' });
      const sock = await t.dial(target.address);
      const got = readExactly(sock, down.length);
      sock.write(up);
      expect(sha256(await got)).toBe(sha256(down));
      expect(sha256(await targetGot!)).toBe(sha256(up));
      sock.destroy();
    } finally {
      await target.close();
      await fake.stop();
    }
  });
});
