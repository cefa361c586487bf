/**
 * HTTP/2 window tuning guard (src/transport/h2-tuning.ts): grpc-js servers
 * take no window options, so TunnelServer hooks a private grpc-js method.
 * These tests read what the agent port really advertises to a raw
 * `http2.connect` client (SETTINGS_INITIAL_WINDOW_SIZE and the connection
 * window), so they fail if a grpc-js upgrade makes the hook stop applying.
 * A plain grpc-js server is measured the same way to show that the
 * measurement tells tuned from untuned. The client library's channel window
 * (client/defaults.ts) is checked the same way from a raw HTTP/2 server.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type DevPkiFiles, writeDevPki } from '../../../src/certs/dev-ca.js';
import { createTunnel } from '../../../src/client/index.js';
import { CHANNEL_FLOW_CONTROL_WINDOW } from '../../../src/client/defaults.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry } from '../../../src/observability/metrics.js';
import { agentChannelOptions, FLOW_CONTROL_WINDOW } from '../../../src/agent/grpc-options.js';
import {
  AGENT_LISTENER_H2,
  defaultSendBufferBytes,
  FRONTEND_GO_CLIENT_H2,
  FRONTEND_UNIX_NODE_H2,
  frontendTuning,
  UNIX_NODE_MIN_SEND_BUFFER,
} from '../../../src/server/grpc-options.js';
import { isGrpcGo, markUnixClient } from '../../../src/transport/h2-tuning.js';
import { TunnelServer } from '../../../src/server/index.js';
import { testServerConfig } from '../../support/server-peers.js';

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-h2-tuning-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
}, 30_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Advertised {
  /** SETTINGS_INITIAL_WINDOW_SIZE the server sent: what we may send on one stream. */
  streamWindow: number | undefined;
  /** What we may send on the whole connection, after the server's WINDOW_UPDATE. */
  connectionWindow: number;
}

/**
 * A raw HTTP/2 server on `uds` that records what its first client advertised
 * (SETTINGS and connection window, read after a ping round trip).
 */
async function rawH2Server(uds: string): Promise<{ seen: Promise<Advertised>; close(): Promise<void> }> {
  const raw = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const seen = new Promise<Advertised>((resolve) => {
    raw.on('session', (s) => {
      sessions.add(s);
      s.once('remoteSettings', () => {
        s.ping(() => resolve({ streamWindow: s.remoteSettings.initialWindowSize, connectionWindow: s.state.remoteWindowSize ?? -1 }));
      });
    });
  });
  await new Promise<void>((r) => raw.listen(uds, r));
  return {
    seen,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise((r) => raw.close(r));
    },
  };
}

/** Connects a raw HTTP/2 client with the agent's certificate and reads what the server advertised. */
async function advertisedBy(port: number): Promise<Advertised> {
  return readAdvertised(
    http2.connect(`https://localhost:${port}`, {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.agentCert),
      key: readFileSync(pki.agentKey),
    }),
  );
}

/** Opens a Proxy stream the way a gRPC client does (with `userAgent`, if any). */
function proxyRequest(session: http2.ClientHttp2Session, userAgent?: string): http2.ClientHttp2Stream {
  const req = session.request({
    ':method': 'POST',
    ':path': '/ProxyService/Proxy',
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(userAgent ? { 'user-agent': userAgent } : {}),
  });
  req.on('error', () => undefined);
  return req;
}

/**
 * What a frontend on a Unix socket advertises to a raw HTTP/2 client. The
 * frontend answers the connection preface itself with an empty SETTINGS
 * (h2-preface.ts) and hands the socket to Node's HTTP/2 at the first request;
 * Node's session then sends the tuned SETTINGS and WINDOW_UPDATE. So: open a
 * stream, wait for that second SETTINGS, then read.
 */
async function advertisedOnUds(socketPath: string, userAgent?: string, settingsFrames = 2): Promise<Advertised> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  let settings = 0;
  const second = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not ${settingsFrames} SETTINGS frames from the server after the first request`)), 5_000);
    session.on('remoteSettings', () => {
      if (++settings === settingsFrames) {
        clearTimeout(t);
        resolve();
      }
    });
    session.once('error', reject);
  });
  const req = proxyRequest(session, userAgent);
  try {
    await second;
    return await readAdvertised(session, true);
  } finally {
    req.close();
    session.destroy();
  }
}

/** What the frontend's mTLS TCP port advertises to a raw HTTP/2 client (with the frontend client certificate) after its first request. */
async function advertisedOverTls(port: number, userAgent?: string): Promise<Advertised> {
  const session = http2.connect(`https://localhost:${port}`, {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
  });
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  const req = proxyRequest(session, userAgent);
  // Half-closed without a packet, the stream gets its answer (a status) after the server has
  // handled its headers, and so after any SETTINGS it sent for it.
  const answered = new Promise<void>((resolve) => req.once('response', () => resolve()));
  req.end();
  await answered;
  return readAdvertised(session, true);
}

async function readAdvertised(session: http2.ClientHttp2Session, settingsSeen = false): Promise<Advertised> {
  try {
    if (!settingsSeen) {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
    }
    // A PING round trip: everything the server sent before its PING ACK (its WINDOW_UPDATE) has been processed.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return { streamWindow: session.remoteSettings.initialWindowSize, connectionWindow: session.state.remoteWindowSize ?? -1 };
  } finally {
    session.destroy();
  }
}

describe('HTTP/2 windows of the agent port', () => {
  it('a plain grpc-js server advertises Node\'s 64 KiB defaults (the measurement tells them apart)', async () => {
    const plain = new grpc.Server();
    const creds = grpc.ServerCredentials.createSsl(
      readFileSync(pki.caCert),
      [{ cert_chain: readFileSync(pki.serverCert), private_key: readFileSync(pki.serverKey) }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) => plain.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    try {
      const got = await advertisedBy(port);
      expect(got.streamWindow).toBe(65_535);
      expect(got.connectionWindow).toBe(65_535);
    } finally {
      plain.forceShutdown();
    }
  });

  it('TunnelServer advertises the tuned stream window in SETTINGS and raises the connection window', async () => {
    const server = new TunnelServer(testServerConfig(pki, { udsName: path.join(dir, 'fe.sock'), tcpFrontend: false }), {
      logger: silentLogger(),
      registry: newRegistry(false),
    });
    const { agentPort } = await server.start();
    try {
      const got = await advertisedBy(agentPort);
      expect(AGENT_LISTENER_H2.streamWindow).toBeGreaterThan(65_535);
      expect(got.streamWindow).toBe(AGENT_LISTENER_H2.streamWindow);
      expect(got.connectionWindow).toBe(AGENT_LISTENER_H2.connectionWindow);
      // Every new connection gets it, not only the first.
      expect(await advertisedBy(agentPort)).toEqual(got);
    } finally {
      await server.shutdown({ graceful: false });
    }
  });
});

/**
 * The small side of each Node-to-Node connection must stay under what a
 * socket buffers (about 208 KiB on a Unix socket), or traffic both ways at
 * once can deadlock (h2-tuning.ts): the frontend and the agent's channel.
 */
const SMALL_SIDE_MAX = 192 * 1024;

describe('HTTP/2 windows of the frontend', () => {
  /** Runs `fn` against a TunnelServer whose only frontend is the Unix socket `name` in the temp dir. */
  async function withUdsFrontend(name: string, fn: (uds: string) => Promise<void>): Promise<void> {
    const uds = path.join(dir, name);
    const server = new TunnelServer(testServerConfig(pki, { udsName: uds, tcpFrontend: false }), {
      logger: silentLogger(),
      registry: newRegistry(false),
    });
    await server.start();
    try {
      await fn(uds);
    } finally {
      await server.shutdown({ graceful: false });
    }
  }

  it('Node clients on the Unix socket get FRONTEND_UNIX_NODE_H2, still the small side (the client library has the large one)', () =>
    withUdsFrontend('fe-small.sock', async (uds) => {
      // This machine's default send buffer decides (Linux: 208 KiB unless changed).
      const tuned = (defaultSendBufferBytes() ?? 0) >= UNIX_NODE_MIN_SEND_BUFFER;
      const want = tuned ? FRONTEND_UNIX_NODE_H2 : { streamWindow: 65_535, connectionWindow: 65_535 };
      expect(FRONTEND_UNIX_NODE_H2).toEqual({ streamWindow: 128 * 1024, connectionWindow: 128 * 1024 });
      expect(CHANNEL_FLOW_CONTROL_WINDOW).toBeGreaterThan(SMALL_SIDE_MAX);
      // No user agent, and our own client library's (both transports): Node clients.
      for (const ua of [undefined, 'grpc-node-js/1.14.7', `tke-anp-tunnel-client node-http2/${process.versions.node}`]) {
        const got = await advertisedOnUds(uds, ua, tuned ? 3 : 2);
        expect(got).toEqual(want);
        expect(got.streamWindow).toBeLessThanOrEqual(SMALL_SIDE_MAX);
        expect(got.connectionWindow).toBeLessThanOrEqual(SMALL_SIDE_MAX);
      }
    }));

  it('over mTLS TCP, Node clients keep Node\'s 64 KiB and grpc-go clients get FRONTEND_GO_CLIENT_H2', async () => {
    const server = new TunnelServer(testServerConfig(pki, { udsName: '', tcpFrontend: true }), {
      logger: silentLogger(),
      registry: newRegistry(false),
    });
    const { frontendPort } = await server.start();
    try {
      const port = frontendPort!;
      expect(await advertisedOverTls(port, `tke-anp-tunnel-client node-http2/${process.versions.node}`)).toEqual({
        streamWindow: 65_535,
        connectionWindow: 65_535,
      });
      expect(await advertisedOverTls(port, 'grpc-go/1.62.1')).toEqual(FRONTEND_GO_CLIENT_H2);
    } finally {
      await server.shutdown({ graceful: false });
    }
  });

  it('frontendTuning: grpc-go anywhere; other clients only on a marked Unix socket with a send buffer of 1.5 windows', () => {
    const unixSocket = {};
    markUnixClient(unixSocket);
    const onUnix = { socket: unixSocket } as unknown as http2.Http2Session;
    const onTcp = { socket: {} } as unknown as http2.Http2Session;
    const gone = {
      get socket(): never {
        throw new Error('unbound');
      },
    } as unknown as http2.Http2Session;
    const node = { 'user-agent': 'grpc-node-js/1.14.7' };
    const go = { 'user-agent': 'grpc-go/1.62.1' };
    const t = frontendTuning(212_992);
    expect(t(node, onUnix)).toBe(FRONTEND_UNIX_NODE_H2);
    expect(t(node, onTcp)).toBeUndefined();
    expect(t(node, gone)).toBeUndefined();
    expect(t(go, onTcp)).toBe(FRONTEND_GO_CLIENT_H2);
    expect(UNIX_NODE_MIN_SEND_BUFFER).toBe(192 * 1024);
    expect(frontendTuning(192 * 1024)(node, onUnix)).toBe(FRONTEND_UNIX_NODE_H2);
    expect(frontendTuning(192 * 1024 - 1)(node, onUnix)).toBeUndefined();
    expect(frontendTuning(undefined)(node, onUnix)).toBeUndefined();
    expect(frontendTuning(undefined)(go, onUnix)).toBe(FRONTEND_GO_CLIENT_H2);
  });

  it('defaultSendBufferBytes reads a positive whole number, else undefined', () => {
    const f = path.join(dir, 'wmem');
    writeFileSync(f, '212992\n');
    expect(defaultSendBufferBytes(f)).toBe(212_992);
    writeFileSync(f, 'lots');
    expect(defaultSendBufferBytes(f)).toBeUndefined();
    writeFileSync(f, '0');
    expect(defaultSendBufferBytes(f)).toBeUndefined();
    expect(defaultSendBufferBytes(path.join(dir, 'missing'))).toBeUndefined();
  });

  it('a grpc-go client (kube-apiserver, by its user agent) gets FRONTEND_GO_CLIENT_H2 after its first request', () =>
    withUdsFrontend('fe-go.sock', async (uds) => {
      const got = await advertisedOnUds(uds, 'grpc-go/1.62.1', 3);
      expect(got.streamWindow).toBe(FRONTEND_GO_CLIENT_H2.streamWindow);
      expect(got.connectionWindow).toBe(FRONTEND_GO_CLIENT_H2.connectionWindow);
    }));

  it('isGrpcGo: grpc-go alone or after an application\'s user agent; not grpc-node-js nor a look-alike', () => {
    expect(isGrpcGo({ 'user-agent': 'grpc-go/1.62.1' })).toBe(true);
    expect(isGrpcGo({ 'user-agent': 'kube-apiserver/v1.30.0 grpc-go/1.58.3' })).toBe(true);
    expect(isGrpcGo({ 'user-agent': 'grpc-node-js/1.14.7' })).toBe(false);
    expect(isGrpcGo({ 'user-agent': 'not-grpc-go/1.0' })).toBe(false);
    expect(isGrpcGo({})).toBe(false);
  });
});

describe('HTTP/2 window of the agent\'s server connections', () => {
  it('a channel with agentChannelOptions advertises FLOW_CONTROL_WINDOW, the small side, per stream and for the connection', async () => {
    const uds = path.join(dir, 'raw-agent-h2.sock');
    const raw = await rawH2Server(uds);
    const client = new grpc.Client(`unix:${uds}`, grpc.credentials.createInsecure(), agentChannelOptions({ keepaliveTimeMs: 60_000 }));
    try {
      client.waitForReady(Date.now() + 10_000, () => undefined);
      const got = await raw.seen;
      expect(got.streamWindow).toBe(FLOW_CONTROL_WINDOW);
      expect(got.connectionWindow).toBe(FLOW_CONTROL_WINDOW);
      // The small side of the Connect connection (the agent port has the large one).
      expect(FLOW_CONTROL_WINDOW).toBeLessThanOrEqual(SMALL_SIDE_MAX);
      expect(AGENT_LISTENER_H2.connectionWindow).toBeGreaterThan(SMALL_SIDE_MAX);
    } finally {
      client.close();
      await raw.close();
    }
  });
});

describe('HTTP/2 window of the client library\'s channel', () => {
  it.each(['http2', 'grpc-js'] as const)('createTunnel (transport %s) advertises CHANNEL_FLOW_CONTROL_WINDOW per stream and for the connection', async (transport) => {
    const uds = path.join(dir, `raw-h2-${transport}.sock`);
    const raw = await rawH2Server(uds);
    try {
      const tunnel = await createTunnel({ uds, transport });
      try {
        const got = await raw.seen;
        expect(CHANNEL_FLOW_CONTROL_WINDOW).toBeGreaterThan(65_535);
        expect(got.streamWindow).toBe(CHANNEL_FLOW_CONTROL_WINDOW);
        expect(got.connectionWindow).toBe(CHANNEL_FLOW_CONTROL_WINDOW);
      } finally {
        await tunnel.close();
      }
    } finally {
      await raw.close();
    }
  });
});
