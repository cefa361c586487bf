import { describe, expect, it } from '@jest/globals';
import { Duplex } from 'node:stream';
import { closeReq, closeRsp, data, dialReq, dialRsp, PacketType, type Packet } from '../../../src/protocol/index.js';
import { makeHttpConnectHandler } from '../../../src/server/http-connect.js';
import { parseHead } from '../../../src/server/http-head.js';
import { resolveLimits } from '../../../src/server/limits.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { harness, turn } from './relay-harness.js';

/** A client socket: the test pushes client bytes; what the server writes is kept (or held back when stalled). */
class FakeSocket extends Duplex {
  readonly received: Buffer[] = [];
  stalled = false;
  private held: (() => void)[] = [];
  constructor() {
    super({ writableHighWaterMark: 1024 });
  }
  _read(): void {}
  _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.stalled) {
      this.held.push(() => {
        this.received.push(chunk);
        cb();
      });
      return;
    }
    this.received.push(chunk);
    this.emit('got');
    cb();
  }
  text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }
  /** Resolves once the server wrote something containing `s`. */
  async waitFor(s: string): Promise<void> {
    while (!this.text().includes(s)) await new Promise((r) => this.once('got', r));
  }
}

function setup(opts: Parameters<typeof harness>[0] = {}) {
  const h = harness(opts);
  let id = 100n;
  const handler = makeHttpConnectHandler({
    relay: h.relay,
    metrics: h.metrics,
    logger: silentLogger(),
    limits: resolveLimits(opts.limits),
    dialIDs: () => ++id,
  });
  const connect = (target: string, rest = ''): FakeSocket => {
    const sock = new FakeSocket();
    const head = parseHead(`CONNECT ${target} HTTP/1.1\r\nHost: 127.0.0.1`, Buffer.from(rest));
    if ('status' in head) throw new Error(head.message);
    handler(sock, head, 'test-peer');
    return sock;
  };
  return { h, connect };
}

describe('HTTP CONNECT frontend', () => {
  it('sends the 200 only after DIAL_RSP, then the bytes that came with the request', async () => {
    const { h, connect } = setup();
    const a = h.agent();
    const sock = connect('10.0.0.1:443', 'hello');
    expect(await a.stream.next()).toEqual(dialReq('10.0.0.1:443', 101n));
    expect(sock.text()).toBe('');
    a.stream.push(dialRsp(101n, 1n));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('hello')));
    expect(sock.text()).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    sock.push(Buffer.from('more'));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('more')));
    a.stream.push(data(1n, Buffer.from('reply')));
    await sock.waitFor('reply');
    sock.push(null); // client EOF -> CLOSE_REQ
    expect(await a.stream.next()).toEqual(closeReq(1n));
    a.stream.push(closeRsp(1n));
    await new Promise((r) => sock.once('close', r));
    await turn();
    expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 0, sessions: 0 });
    expect((await h.metrics.httpConnections.get()).values[0]?.value).toBe(0);
  });

  it('splits large client writes into DATA packets of at most httpReadChunkBytes', async () => {
    const { h, connect } = setup({ limits: { httpReadChunkBytes: 4 } });
    const a = h.agent();
    const sock = connect('10.0.0.1:443');
    await a.stream.next();
    a.stream.push(dialRsp(101n, 1n));
    await sock.waitFor('200');
    sock.push(Buffer.from('0123456789'));
    const got: Packet[] = [await a.stream.next(), await a.stream.next(), await a.stream.next()];
    expect(got).toEqual([data(1n, Buffer.from('0123')), data(1n, Buffer.from('4567')), data(1n, Buffer.from('89'))]);
  });

  it('closes a stalled HTTP client alone; a gRPC client on the same agent keeps flowing', async () => {
    const { h, connect } = setup({ xfrChannelSize: 2, limits: { stallTimeoutMs: 5_000 } });
    const a = h.agent();
    const sock = connect('10.0.0.1:443');
    await a.stream.next();
    a.stream.push(dialRsp(101n, 1n));
    await sock.waitFor('200');
    const c = h.client();
    c.stream.push(dialReq('10.0.0.2:443', 7n));
    await a.stream.next();
    a.stream.push(dialRsp(7n, 2n));
    await c.stream.next();

    sock.stalled = true;
    for (let i = 0; i < 10; i++) {
      a.stream.push(data(1n, Buffer.alloc(600, i)));
      a.stream.push(data(2n, Buffer.from([i])));
    }
    for (let i = 0; i < 10; i++) expect(await c.stream.next()).toEqual(data(2n, Buffer.from([i])));
    expect(await h.metric('konnectivity_network_proxy_server_full_receive_channels', { service_method: 'CONNECT' })).toBe(1);
    h.fake.tick(5_000);
    await new Promise((r) => sock.once('close', r));
    expect(await a.stream.next()).toEqual(closeReq(1n));
    a.stream.push(data(2n, Buffer.from('on')));
    expect(await c.stream.next()).toEqual(data(2n, Buffer.from('on')));
    expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 1, sessions: 1 });
  });

  it('cancels the pending dial when the client leaves before the 200', async () => {
    const { h, connect } = setup();
    const a = h.agent();
    const sock = connect('10.0.0.1:443');
    await a.stream.next();
    sock.destroy();
    const p = await a.stream.next();
    expect(p.type).toBe(PacketType.DIAL_CLS);
    await turn();
    expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 0, sessions: 0 });
  });
});
