import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createTunnel, DialError, type Tunnel } from '../../../src/client/index.js';
import { ClientMetrics, newRegistry } from '../../../src/observability/metrics.js';
import { closeRsp, data, dialRsp, type Packet, PacketType, TEXT } from '../../../src/protocol/index.js';
import { type FakeBehaviour, FakeProxyServer } from '../../support/fake-proxy-server.js';
import { readAll, readExactly, startEcho, type TcpTarget, tempDir } from './helpers.js';

let dir: string;
let fake: FakeProxyServer;
let echo: TcpTarget;
let tunnel: Tunnel;
const registry = newRegistry(false);
const metrics = new ClientMetrics(registry);
/** Scripted behaviour per dialed address; anything else is relayed. */
const scripts = new Map<string, FakeBehaviour>();

const isDialCls = (id: bigint) => (p: Packet) => p.type === PacketType.DIAL_CLS && p.closeDial.random === id;

async function failureCount(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('konnectivity_network_proxy_client_dial_failure_total')!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function dialError(address: string, t: Tunnel = tunnel, opts = {}): Promise<DialError> {
  const err = await t.dial(address, opts).then(
    () => {
      throw new Error('dial should have failed');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DialError);
  return err as DialError;
}

beforeAll(async () => {
  dir = tempDir();
  fake = await FakeProxyServer.start({ uds: path.join(dir, 'proxy.sock'), behaviour: (req) => scripts.get(req.address) ?? { kind: 'relay' } });
  echo = await startEcho();
  tunnel = await createTunnel({ uds: path.join(dir, 'proxy.sock'), metrics, dialTimeoutMs: 5000, closeTimeoutMs: 300 });
});

afterAll(async () => {
  await tunnel.close();
  await fake.stop();
  await echo.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('dial failures', () => {
  it('endpoint: the server has no agent', async () => {
    scripts.set('noagent.test:443', { kind: 'error', text: TEXT.noAgent });
    const err = await dialError('noagent.test:443');
    expect(err).toMatchObject({ reason: 'endpoint', code: 'ERR_DIAL_ENDPOINT', endpointError: 'No agent available' });
    expect(err.message).toBe('No agent available');
    expect(await failureCount('endpoint')).toBeGreaterThanOrEqual(1);
  });

  it("endpoint: the agent's dial error text, verbatim", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await dialError(`127.0.0.1:${port}`);
    expect(err.reason).toBe('endpoint');
    expect(err.endpointError).toBe(`dial tcp 127.0.0.1:${port}: connect: connection refused`);
  });

  it('timeout: the backstop sends DIAL_CLS and fails with "dial timeout, backstop"', async () => {
    scripts.set('silent.test:1', { kind: 'silent' });
    const quick = await createTunnel({ uds: path.join(dir, 'proxy.sock'), metrics, dialTimeoutMs: 150 });
    try {
      const err = await dialError('silent.test:1', quick);
      expect(err).toMatchObject({ reason: 'timeout', code: 'ERR_DIAL_TIMEOUT', message: 'dial timeout, backstop' });
      await fake.waitFor(isDialCls(err.dialID));
      await quick.idle();
    } finally {
      await quick.close();
    }
    expect(await failureCount('timeout')).toBe(1);
  });

  it('context: aborting the signal sends DIAL_CLS for that dial', async () => {
    scripts.set('slow.test:2', { kind: 'silent' });
    const ac = new AbortController();
    const pending = dialError('slow.test:2', tunnel, { signal: ac.signal });
    const req = await fake.waitFor((p) => p.type === PacketType.DIAL_REQ && p.dialRequest.address === 'slow.test:2');
    ac.abort();
    const err = await pending;
    expect(err).toMatchObject({ reason: 'context', code: 'ERR_DIAL_CONTEXT', message: 'dial timeout, context' });
    expect(req.type === PacketType.DIAL_REQ && req.dialRequest.random).toBe(err.dialID);
    await fake.waitFor(isDialCls(err.dialID));
  });

  it('context: a signal aborted before dialing fails without opening a stream', async () => {
    const before = fake.streams.length;
    const err = await dialError(echo.address, tunnel, { signal: AbortSignal.abort() });
    expect(err.reason).toBe('context');
    expect(fake.streams.length).toBe(before);
  });

  it('context: timeoutMs of one dial', async () => {
    scripts.set('slow.test:3', { kind: 'silent' });
    const err = await dialError('slow.test:3', tunnel, { timeoutMs: 100 });
    expect(err.reason).toBe('context');
    await fake.waitFor(isDialCls(err.dialID));
  });

  it('dialclosed: the server sends DIAL_CLS', async () => {
    scripts.set('dialcls.test:4', { kind: 'dialClose' });
    const err = await dialError('dialcls.test:4');
    expect(err).toMatchObject({ reason: 'dialclosed', code: 'ERR_DIAL_CLOSED', message: 'dial closed' });
  });

  it('unknown: a DIAL_RSP for another dial id is a protocol error of that stream', async () => {
    scripts.set('wrongid.test:5', { kind: 'custom', run: (req, send) => send(dialRsp(req.random + 1n, 9n)) });
    const err = await dialError('wrongid.test:5');
    expect(err).toMatchObject({ reason: 'unknown', code: 'ERR_PROTOCOL' });
  });

  it('tunnelclosed: close() fails pending dials, and later dials', async () => {
    scripts.set('hang.test:6', { kind: 'silent' });
    const t = await createTunnel({ uds: path.join(dir, 'proxy.sock'), metrics });
    const pending = dialError('hang.test:6', t);
    await fake.waitFor((p) => p.type === PacketType.DIAL_REQ && p.dialRequest.address === 'hang.test:6');
    await t.close();
    expect(await pending).toMatchObject({ reason: 'tunnelclosed', code: 'ERR_TUNNEL_CLOSED', message: 'tunnel closed' });
    expect((await dialError(echo.address, t)).reason).toBe('tunnelclosed');
  });

  it('streamsetup: the proxy server went away', async () => {
    const sock = path.join(dir, 'gone.sock');
    const gone = await FakeProxyServer.start({ uds: sock });
    const t = await createTunnel({ uds: sock, metrics });
    try {
      await gone.stop();
      fs.rmSync(sock, { force: true });
      const err = await dialError(echo.address, t);
      expect(err).toMatchObject({ reason: 'streamsetup', code: 'ERR_STREAM_SETUP' });
    } finally {
      await t.close();
    }
  });
});

describe('errors on an open connection', () => {
  it('a CLOSE_RSP with an error text destroys the socket with that text', async () => {
    scripts.set('closeerr.test:7', { kind: 'closeWithError', text: 'backend uninitialized' });
    const sock = await tunnel.dial('closeerr.test:7');
    sock.resume();
    const [err] = (await once(sock, 'error')) as [Error & { code: string }];
    expect(err.message).toBe('backend uninitialized');
    expect(err.code).toBe('ERR_REMOTE_CLOSE');
  });

  it('DATA for another connectID closes only that connection, with CLOSE_REQ', async () => {
    scripts.set('mismatch.test:8', {
      kind: 'custom',
      run: (req, send) => {
        send(dialRsp(req.random, 70n));
        send(data(71n, Buffer.from('not yours')));
      },
    });
    const healthy = await tunnel.dial(echo.address);
    const sock = await tunnel.dial('mismatch.test:8');
    sock.resume();
    const [err] = (await once(sock, 'error')) as [Error & { code: string }];
    expect(err.code).toBe('ERR_PROTOCOL');
    expect(err.message).toContain('mismatched connection IDs');
    await fake.waitFor((p) => p.type === PacketType.CLOSE_REQ && p.closeRequest.connectID === 70n);
    // the other connection on the same tunnel is untouched
    healthy.write('still here');
    expect((await readExactly(healthy, 10)).toString()).toBe('still here');
    healthy.destroy();
  });

  it('DATA with connectID 0 is dropped; data then EOF are delivered', async () => {
    scripts.set('zero.test:9', {
      kind: 'custom',
      run: (req, send) => {
        send(dialRsp(req.random, 90n));
        send(data(0n, Buffer.from('junk')));
        send(data(90n, Buffer.from('good')));
        send(closeRsp(90n));
      },
    });
    const sock = await tunnel.dial('zero.test:9');
    expect((await readAll(sock)).toString()).toBe('good');
  });

  it('end() without CLOSE_RSP destroys the socket with "close timeout" and frees the stream', async () => {
    scripts.set('noclose.test:10', { kind: 'custom', run: (req, send) => send(dialRsp(req.random, 100n)) });
    const sock = await tunnel.dial('noclose.test:10');
    sock.end();
    const [err] = (await once(sock, 'error')) as [Error & { code: string }];
    expect(err).toMatchObject({ message: 'close timeout', code: 'ERR_CLOSE_TIMEOUT' });
    await fake.waitFor((p) => p.type === PacketType.CLOSE_REQ && p.closeRequest.connectID === 100n);
    await tunnel.idle();
  });

  it('a connected socket ignores a later abort of its dial signal', async () => {
    const ac = new AbortController();
    const sock = await tunnel.dial(echo.address, { signal: ac.signal });
    ac.abort();
    sock.write('ok');
    expect((await readExactly(sock, 2)).toString()).toBe('ok');
    sock.destroy();
    await tunnel.idle();
  });
});
