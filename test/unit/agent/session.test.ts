import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type FakeTimers from '@sinonjs/fake-timers';
import { connectionLimits, type ConnectionLimits, READ_CHUNK_BYTES } from '../../../src/agent/limits.js';
import { StreamSession } from '../../../src/agent/session.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AgentMetrics, newRegistry } from '../../../src/observability/metrics.js';
import {
  closeReq,
  data,
  dialCls,
  dialReq,
  dialRsp,
  drain,
  type Packet,
  PacketType,
  ProtocolError,
  TEXT,
} from '../../../src/protocol/index.js';
import { fakeClock } from './fake-clock.js';
import { FakeDialer, type FakeEndpoint } from './fake-endpoint.js';
import { MemoryPacketStream } from './memory-stream.js';

const isType =
  (t: number, id?: bigint) =>
  (p: Packet): boolean => {
    if (p.type !== t) return false;
    if (id === undefined) return true;
    if (p.type === PacketType.DATA) return p.data.connectID === id;
    if (p.type === PacketType.CLOSE_RSP) return p.closeResponse.connectID === id;
    return true;
  };

/** Waits until the event loop has run pending I/O callbacks and microtasks. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Rig {
  stream: MemoryPacketStream;
  dialer: FakeDialer;
  session: StreamSession;
  served: Promise<string>;
  metrics: AgentMetrics;
  clock: FakeTimers.Clock;
}

function rig(limits: Partial<ConnectionLimits> = {}, dialTimeoutMs = 5000): Rig {
  const stream = new MemoryPacketStream();
  const dialer = new FakeDialer();
  const metrics = new AgentMetrics(newRegistry(false));
  const { fake, clock } = fakeClock();
  const session = new StreamSession({
    stream,
    serverID: 'server-1',
    dialer: dialer.dial,
    dialTimeoutMs,
    limits: { ...connectionLimits(150), ...limits },
    clock,
    logger: silentLogger(),
    metrics,
  });
  return { stream, dialer, session, served: session.serve(), metrics, clock: fake };
}

/** Dials `address` as dial id `random` and completes the dial; returns the endpoint and connectID. */
async function open(r: Rig, random: bigint, address = '127.0.0.1:80'): Promise<{ ep: FakeEndpoint; id: bigint }> {
  r.stream.push(dialReq(address, random));
  const call = await r.dialer.next();
  const ep = call.connect();
  const rsp = await r.stream.nextSent((p) => p.type === PacketType.DIAL_RSP && p.dialResponse.random === random);
  if (rsp.type !== PacketType.DIAL_RSP) throw new Error('unreachable');
  expect(rsp.dialResponse.error).toBe('');
  return { ep, id: rsp.dialResponse.connectID };
}

async function counter(c: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string>): Promise<number> {
  const v = (await c.get()).values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

describe('StreamSession: dials', () => {
  let r: Rig;
  beforeEach(() => {
    r = rig();
  });
  afterEach(async () => {
    r.session.close();
    await r.served;
  });

  it('answers a successful dial with DIAL_RSP carrying the dial id and connectID 1, then 2', async () => {
    const a = await open(r, 111n);
    const b = await open(r, (1n << 62n) + 7n);
    expect(a.id).toBe(1n);
    expect(b.id).toBe(2n);
    expect(r.session.stats()).toEqual({ endpointConnections: 2, pendingDials: 0 });
    expect((await r.metrics.openEndpointConnections.get()).values[0]!.value).toBe(2);
  });

  it('answers a refused dial with the Go error text and no connectID, and counts it', async () => {
    r.stream.push(dialReq('127.0.0.1:1', 5n));
    const call = await r.dialer.next();
    expect(call.address).toBe('127.0.0.1:1');
    expect(call.opts.timeoutMs).toBe(5000);
    call.fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 1 }));
    const rsp = await r.stream.nextSent(isType(PacketType.DIAL_RSP));
    expect(rsp).toEqual(dialRsp(5n, 0n, 'dial tcp 127.0.0.1:1: connect: connection refused'));
    expect(await counter(r.metrics.endpointDialFailures, { reason: 'refused' })).toBe(1);
    expect(r.session.stats()).toEqual({ endpointConnections: 0, pendingDials: 0 });
  });

  it('fails a dial the dialer never answers after the dial timeout', async () => {
    r.stream.push(dialReq('10.0.0.1:80', 9n));
    await r.dialer.next();
    expect(r.session.stats().pendingDials).toBe(1);
    await r.clock.tickAsync(7000);
    const rsp = await r.stream.nextSent(isType(PacketType.DIAL_RSP));
    expect(rsp).toEqual(dialRsp(9n, 0n, 'dial tcp 10.0.0.1:80: i/o timeout'));
    expect(await counter(r.metrics.endpointDialFailures, { reason: 'timeout' })).toBe(1);
    expect(r.session.stats().pendingDials).toBe(0);
  });

  it('refuses a protocol other than tcp without dialing', async () => {
    r.stream.push(dialReq('127.0.0.1:53', 3n, 'udp'));
    const rsp = await r.stream.nextSent(isType(PacketType.DIAL_RSP));
    expect(rsp).toEqual(dialRsp(3n, 0n, 'dial udp: unknown network udp'));
    expect(r.dialer.calls).toHaveLength(0);
  });

  it('does not block the receive loop while a dial is in progress', async () => {
    r.stream.push(dialReq('10.0.0.1:80', 1n));
    const slow = await r.dialer.next();
    const fast = await open(r, 2n);
    fast.ep.send('hello');
    const d = await r.stream.nextSent(isType(PacketType.DATA, fast.id));
    expect(Buffer.from(d.type === PacketType.DATA ? d.data.data : []).toString()).toBe('hello');
    slow.fail(Object.assign(new Error('x'), { code: 'EHOSTUNREACH', syscall: 'connect', address: '10.0.0.1', port: 80 }));
    const rsp = await r.stream.nextSent((p) => p.type === PacketType.DIAL_RSP && p.dialResponse.random === 1n);
    expect(rsp.type === PacketType.DIAL_RSP && rsp.dialResponse.error).toBe('dial tcp 10.0.0.1:80: connect: no route to host');
  });
});

describe('StreamSession: DIAL_CLS', () => {
  let r: Rig;
  beforeEach(() => {
    r = rig();
  });
  afterEach(async () => {
    r.session.close();
    await r.served;
  });

  it('cancels a dial in progress: the dialer is aborted and nothing is answered', async () => {
    r.stream.push(dialReq('10.0.0.1:80', 42n));
    const call = await r.dialer.next();
    r.stream.push(dialCls(42n));
    await settle();
    expect(call.opts.signal.aborted).toBe(true);
    expect(r.session.stats().pendingDials).toBe(0);
    // A dialer that connects anyway: the socket is dropped, not adopted.
    const ep = call.connect();
    await settle();
    expect(ep.destroyed).toBe(true);
    expect(r.stream.sent).toEqual([]);
    expect(r.session.stats()).toEqual({ endpointConnections: 0, pendingDials: 0 });
  });

  it('closes a connection whose dial already completed and sends CLOSE_RSP', async () => {
    const { ep, id } = await open(r, 77n);
    r.stream.push(dialCls(77n));
    const rsp = await r.stream.nextSent(isType(PacketType.CLOSE_RSP));
    expect(rsp.type === PacketType.CLOSE_RSP && rsp.closeResponse).toEqual({ connectID: id, error: '' });
    expect(ep.destroyed).toBe(true);
    expect(r.session.stats().endpointConnections).toBe(0);
  });
});

describe('StreamSession: data and close', () => {
  let r: Rig;
  beforeEach(() => {
    r = rig();
  });
  afterEach(async () => {
    r.session.close();
    await r.served;
  });

  it('moves bytes both ways, splitting endpoint reads into DATA of at most READ_CHUNK_BYTES', async () => {
    const { ep, id } = await open(r, 1n);
    r.stream.push(data(id, Buffer.from('to the endpoint')));
    await ep.waitBytes(15);
    expect(ep.bytes().toString()).toBe('to the endpoint');

    const big = Buffer.alloc(READ_CHUNK_BYTES + 100 * 1024, 7);
    big.write('start');
    ep.send(big);
    const got: Buffer[] = [];
    let total = 0;
    while (total < big.length) {
      const p = await r.stream.nextSent(isType(PacketType.DATA, id));
      if (p.type !== PacketType.DATA) throw new Error('unreachable');
      expect(p.data.data.length).toBeLessThanOrEqual(READ_CHUNK_BYTES);
      got.push(Buffer.from(p.data.data));
      total += p.data.data.length;
    }
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(Buffer.concat(got).equals(big)).toBe(true);
  });

  it('pauses the endpoint while the server stream is full and resumes when it drains', async () => {
    const { ep, id } = await open(r, 1n);
    r.stream.setFull(true);
    ep.send('one');
    await r.stream.nextSent(isType(PacketType.DATA, id));
    expect(ep.isPaused()).toBe(true);
    ep.send('two');
    await settle();
    expect(r.stream.sent.filter(isType(PacketType.DATA))).toHaveLength(1);
    r.stream.setFull(false);
    const p = await r.stream.nextSent(isType(PacketType.DATA, id));
    expect(p.type === PacketType.DATA && Buffer.from(p.data.data).toString()).toBe('two');
    expect(ep.isPaused()).toBe(false);
  });

  it('sends an unprompted CLOSE_RSP after the endpoint closes, after its last data', async () => {
    const { ep, id } = await open(r, 1n);
    ep.send('last words');
    ep.eof();
    const rsp = await r.stream.nextSent(isType(PacketType.CLOSE_RSP));
    const types = r.stream.sent.map((p) => p.type);
    expect(types).toEqual([PacketType.DIAL_RSP, PacketType.DATA, PacketType.CLOSE_RSP]);
    expect(rsp.type === PacketType.CLOSE_RSP && rsp.closeResponse).toEqual({ connectID: id, error: '' });
    expect(r.session.stats().endpointConnections).toBe(0);
  });

  it('on CLOSE_REQ forwards data already read, then CLOSE_RSP, then delivers queued bytes and ends the endpoint', async () => {
    const { ep, id } = await open(r, 1n);
    // Endpoint→server data held back by a full stream.
    r.stream.setFull(true);
    ep.send('first');
    await r.stream.nextSent(isType(PacketType.DATA, id));
    ep.send('held back');
    await settle();
    // Server→endpoint data queued behind a slow endpoint.
    ep.stall();
    r.stream.push(data(id, Buffer.alloc(100, 1)));
    r.stream.push(data(id, Buffer.from('tail')));
    r.stream.push(closeReq(id));
    const rsp = await r.stream.nextSent(isType(PacketType.CLOSE_RSP));
    expect(rsp.type === PacketType.CLOSE_RSP && rsp.closeResponse).toEqual({ connectID: id, error: '' });
    const sentTypes = r.stream.sent.map((p) => p.type);
    expect(sentTypes).toEqual([PacketType.DIAL_RSP, PacketType.DATA, PacketType.DATA, PacketType.CLOSE_RSP]);
    const held = r.stream.sent[2]!;
    expect(held.type === PacketType.DATA && Buffer.from(held.data.data).toString()).toBe('held back');
    expect(r.session.stats().endpointConnections).toBe(0);
    const finished = new Promise((res) => ep.once('finish', res));
    ep.unstall();
    await finished;
    expect(ep.bytes().subarray(100).toString()).toBe('tail');
  });

  it('answers DATA and CLOSE_REQ for unknown ids with CLOSE_RSP "unrecognized connectID" and drops connectID 0', async () => {
    r.stream.push(data(0n, Buffer.from('x')));
    r.stream.push(data(99n, Buffer.from('x')));
    r.stream.push(closeReq(98n));
    const a = await r.stream.nextSent(isType(PacketType.CLOSE_RSP));
    const b = await r.stream.nextSent(isType(PacketType.CLOSE_RSP));
    expect(a.type === PacketType.CLOSE_RSP && a.closeResponse).toEqual({ connectID: 99n, error: TEXT.unrecognizedConnectID });
    expect(b.type === PacketType.CLOSE_RSP && b.closeResponse).toEqual({ connectID: 98n, error: TEXT.unrecognizedConnectID });
    expect(r.stream.sent).toHaveLength(2);
    expect(await counter(r.metrics.badInput, { reason: 'unknown_connect_id' })).toBe(2);
    expect(await counter(r.metrics.badInput, { reason: 'zero_connect_id' })).toBe(1);
  });

  it('ignores packets only an agent sends, counting them as bad input', async () => {
    r.stream.push(dialRsp(1n, 1n));
    r.stream.push(drain());
    const { id } = await open(r, 2n);
    expect(id).toBe(1n);
    expect(await counter(r.metrics.badInput, { reason: 'unexpected_packet_type' })).toBe(2);
  });
});

describe('StreamSession: a stalled endpoint', () => {
  it('is closed alone after the stall timeout while another connection keeps flowing', async () => {
    const r = rig({ maxQueuedPackets: 3, stallTimeoutMs: 1000 });
    const slow = await open(r, 1n);
    const fast = await open(r, 2n);
    slow.ep.stall();
    for (let i = 0; i < 6; i++) r.stream.push(data(slow.id, Buffer.alloc(100, i)));
    for (let i = 0; i < 20; i++) r.stream.push(data(fast.id, Buffer.from(`m${i};`)));
    await fast.ep.waitBytes(20 * 3 + 10);
    expect(fast.ep.bytes().toString()).toContain('m19;');

    await r.clock.tickAsync(1000);
    const rsp = await r.stream.nextSent(isType(PacketType.CLOSE_RSP, slow.id));
    expect(rsp.type === PacketType.CLOSE_RSP && rsp.closeResponse.error).toMatch(/stalled/);
    expect(slow.ep.destroyed).toBe(true);

    // The other connection still works both ways.
    r.stream.push(data(fast.id, Buffer.from('after')));
    await fast.ep.waitBytes(fast.ep.bytes().length + 5);
    fast.ep.send('reply');
    const d = await r.stream.nextSent(isType(PacketType.DATA, fast.id));
    expect(d.type === PacketType.DATA && Buffer.from(d.data.data).toString()).toBe('reply');
    expect(r.session.stats().endpointConnections).toBe(1);
    r.session.close();
    await r.served;
  });

  it('is closed at once when its queue goes far over the bound', async () => {
    const r = rig({ maxQueuedPackets: 2, stallTimeoutMs: 60_000 });
    const slow = await open(r, 1n);
    slow.ep.stall();
    for (let i = 0; i < 12; i++) r.stream.push(data(slow.id, Buffer.alloc(100, i)));
    const rsp = await r.stream.nextSent(isType(PacketType.CLOSE_RSP, slow.id));
    expect(rsp.type === PacketType.CLOSE_RSP && rsp.closeResponse.error).toMatch(/not reading/);
    expect(r.session.stats().endpointConnections).toBe(0);
    r.session.close();
    await r.served;
  });

  it('is not closed when it catches up before the stall timeout', async () => {
    const r = rig({ maxQueuedPackets: 3, stallTimeoutMs: 1000 });
    const slow = await open(r, 1n);
    slow.ep.stall();
    for (let i = 0; i < 6; i++) r.stream.push(data(slow.id, Buffer.alloc(100, i)));
    await settle();
    await r.clock.tickAsync(500);
    slow.ep.unstall();
    await slow.ep.waitBytes(600);
    await r.clock.tickAsync(2000);
    expect(r.stream.sent.filter(isType(PacketType.CLOSE_RSP))).toHaveLength(0);
    expect(r.session.stats().endpointConnections).toBe(1);
    r.session.close();
    await r.served;
  });
});

describe('StreamSession: end of the stream', () => {
  it('closes every endpoint connection and pending dial when the server ends the stream', async () => {
    const r = rig();
    const a = await open(r, 1n);
    const b = await open(r, 2n);
    r.stream.push(dialReq('10.0.0.1:80', 3n));
    const pending = await r.dialer.next();
    r.stream.end();
    expect(await r.served).toBe('stream ended by server');
    expect(a.ep.destroyed).toBe(true);
    expect(b.ep.destroyed).toBe(true);
    expect(pending.opts.signal.aborted).toBe(true);
    expect(r.session.stats()).toEqual({ endpointConnections: 0, pendingDials: 0 });
    expect((await r.metrics.openEndpointConnections.get()).values[0]!.value).toBe(0);
  });

  it('closes the stream and its connections on a malformed frame, naming the problem', async () => {
    const r = rig();
    const a = await open(r, 1n);
    r.stream.fail(new ProtocolError('ERR_MALFORMED_PACKET', 'malformed packet: truncated varint at byte 3'));
    expect(await r.served).toMatch(/malformed packet from server: malformed packet: truncated varint/);
    expect(a.ep.destroyed).toBe(true);
    expect(await counter(r.metrics.badInput, { reason: 'ERR_MALFORMED_PACKET' })).toBe(1);
  });
});
