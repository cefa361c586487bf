import { describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import {
  closeReq,
  closeRsp,
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
import { harness, type Peer, turn } from './relay-harness.js';

const M = 'konnectivity_network_proxy_server_';

/** Client dials through the agent and the agent accepts with connectID `cid`. */
async function establish(client: Peer, agent: Peer, random: bigint, cid: bigint, address = '10.0.0.1:443'): Promise<void> {
  client.stream.push(dialReq(address, random));
  expect(await agent.stream.next()).toEqual(dialReq(address, random));
  agent.stream.push(dialRsp(random, cid));
  expect(await client.stream.next()).toEqual(dialRsp(random, cid));
}

function zeroStats(h: ReturnType<typeof harness>): void {
  expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 0, sessions: 0 });
}

describe('relay: dial and data', () => {
  it('forwards the same DIAL_REQ, the DIAL_RSP, DATA both ways and the close handshake', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 7n, 1n);
    expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 1, sessions: 1 });

    c.stream.push(data(1n, Buffer.from('ping')));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('ping')));
    a.stream.push(data(1n, Buffer.from('pong')));
    expect(await c.stream.next()).toEqual(data(1n, Buffer.from('pong')));

    c.stream.push(closeReq(1n));
    expect(await a.stream.next()).toEqual(closeReq(1n));
    a.stream.push(closeRsp(1n));
    expect(await c.stream.next()).toEqual(closeRsp(1n));
    await turn();
    expect(h.relay.stats().established).toBe(0);
    expect(c.stream.closed).toBe(false); // the client ends its stream, not the server

    c.stream.end();
    await c.served;
    expect(c.stream.closeReason).toBeUndefined();
    zeroStats(h);
    const hist = await h.registry.getSingleMetric(`${M}dial_duration_seconds`)!.get();
    expect(hist.values.find((v) => (v as { metricName?: string }).metricName === `${M}dial_duration_seconds_count`)?.value).toBe(1);
  });

  it('drops DATA with connectID 0 in both directions', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 1n, 3n);
    c.stream.push(data(0n, Buffer.from('x')));
    a.stream.push(data(0n, Buffer.from('y')));
    c.stream.push(data(3n, Buffer.from('after')));
    expect(await a.stream.next()).toEqual(data(3n, Buffer.from('after')));
    await turn();
    expect(c.stream.unread).toEqual([]);
  });

  it('answers "No agent available" and keeps the stream open until the client ends it', async () => {
    const h = harness();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:443', 5n));
    expect(await c.stream.next()).toEqual(dialRsp(5n, 0n, TEXT.noAgent));
    await turn();
    expect(c.stream.closed).toBe(false);
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'no_agent' })).toBe(1);
    c.stream.push(closeReq(9n));
    expect(await c.stream.next()).toEqual(closeRsp(9n, TEXT.backendUninitialized));
    c.stream.end();
    await c.served;
    zeroStats(h);
  });

  it('closes a stream whose first packet is not DIAL_REQ, and only that one', async () => {
    const h = harness();
    const a = h.agent();
    const good = h.client();
    await establish(good, a, 1n, 1n);
    const bad = h.client();
    bad.stream.push(data(1n, Buffer.from('steal')));
    await bad.served;
    expect(bad.stream.closeReason?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.stream.closeReason?.message).toContain('must be DIAL_REQ');
    expect(await h.metric(`${M}bad_input_total`, { source: 'client', reason: 'first_packet' })).toBe(1);
    good.stream.push(data(1n, Buffer.from('still fine')));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('still fine')));
  });

  it('counts a malformed frame from a client and closes only that stream', async () => {
    const h = harness();
    const a = h.agent();
    const good = h.client();
    await establish(good, a, 1n, 1n);
    const bad = h.client();
    bad.stream.fail(new ProtocolError('ERR_MALFORMED_PACKET', 'bad varint'));
    await bad.served;
    expect(await h.metric(`${M}bad_input_total`, { source: 'client', reason: 'ERR_MALFORMED_PACKET' })).toBe(1);
    a.stream.push(data(1n, Buffer.from('ok')));
    expect(await good.stream.next()).toEqual(data(1n, Buffer.from('ok')));
  });

  it('refuses a dial whose random is already pending, leaving the first dial alone', async () => {
    const h = harness();
    const a = h.agent();
    const c1 = h.client();
    c1.stream.push(dialReq('10.0.0.1:1', 77n));
    await a.stream.next();
    const c2 = h.client();
    c2.stream.push(dialReq('10.0.0.2:2', 77n));
    const rsp = await c2.stream.next();
    expect(rsp.type).toBe(PacketType.DIAL_RSP);
    expect((rsp as Extract<Packet, { type: 1 }>).dialResponse.error).toContain('already in use');
    a.stream.push(dialRsp(77n, 4n));
    expect(await c1.stream.next()).toEqual(dialRsp(77n, 4n));
    await turn();
    expect(c2.stream.unread).toEqual([]);
  });

  it('forwards an agent DIAL_RSP error and counts it', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 3n));
    await a.stream.next();
    const refused = dialRsp(3n, 0n, 'dial tcp 10.0.0.1:1: connect: connection refused');
    a.stream.push(refused);
    expect(await c.stream.next()).toEqual(refused);
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'error_response' })).toBe(1);
    expect(h.relay.stats().pendingDials).toBe(0);
  });
});

describe('relay: ids that do not match', () => {
  it('answers an unknown DIAL_RSP with CLOSE_REQ, also one for a dial sent to another agent', async () => {
    const h = harness();
    const a1 = h.agent('a1');
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 8n));
    await a1.stream.next();
    const a2 = h.agent('a2');
    await turn();
    a2.stream.push(dialRsp(8n, 5n)); // a2 answers a dial it never got
    expect(await a2.stream.next()).toEqual(closeReq(5n));
    a2.stream.push(dialRsp(999n, 6n));
    expect(await a2.stream.next()).toEqual(closeReq(6n));
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'unrecognized_response' })).toBe(2);
    a1.stream.push(dialRsp(8n, 1n));
    expect(await c.stream.next()).toEqual(dialRsp(8n, 1n));
  });

  it('answers agent DATA for an unknown connection with CLOSE_REQ', async () => {
    const h = harness();
    const a = h.agent();
    a.stream.push(data(42n, Buffer.from('?')));
    expect(await a.stream.next()).toEqual(closeReq(42n));
  });

  it('closes both ids on mismatched connection IDs, but never another client\'s connection', async () => {
    const h = harness();
    const a = h.agent();
    const victim = h.client();
    await establish(victim, a, 1n, 1n);
    const c = h.client();
    await establish(c, a, 2n, 2n);

    c.stream.push(data(1n, Buffer.from('not mine')));
    expect(await c.stream.next()).toEqual(closeRsp(2n, TEXT.mismatchedIDs));
    expect(await a.stream.next()).toEqual(closeReq(2n));
    await turn();
    expect(a.stream.unread).toEqual([]); // no CLOSE_REQ{1}: connection 1 belongs to the victim
    expect(h.relay.stats().established).toBe(1);

    victim.stream.push(data(1n, Buffer.from('mine')));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('mine')));

    const c3 = h.client();
    await establish(c3, a, 3n, 3n);
    c3.stream.push(data(99n, Buffer.from('x')));
    expect(await c3.stream.next()).toEqual(closeRsp(3n, TEXT.mismatchedIDs));
    expect([await a.stream.next(), await a.stream.next()]).toEqual([closeReq(3n), closeReq(99n)]);
    expect(await h.metric(`${M}bad_input_total`, { source: 'client', reason: 'mismatched_connect_id' })).toBe(2);
  });
});

describe('relay: cancellation and loss', () => {
  it('CLOSE_REQ while dialing cancels the dial and answers "backend uninitialized"', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 11n));
    await a.stream.next();
    c.stream.push(closeReq(0n));
    expect(await c.stream.next()).toEqual(closeRsp(0n, TEXT.backendUninitialized));
    expect(await a.stream.next()).toEqual(dialCls(11n));
    expect(h.relay.stats().pendingDials).toBe(0);
  });

  it('DIAL_CLS from the client cancels at the agent; the late DIAL_RSP gets CLOSE_REQ', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 12n));
    await a.stream.next();
    c.stream.push(dialCls(12n));
    expect(await a.stream.next()).toEqual(dialCls(12n));
    expect(h.relay.stats().pendingDials).toBe(0);
    a.stream.push(dialRsp(12n, 7n));
    expect(await a.stream.next()).toEqual(closeReq(7n));
  });

  it('DIAL_CLS from the client after the dial completed closes the connection (no leak)', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 13n, 2n);
    c.stream.push(dialCls(13n));
    expect(await a.stream.next()).toEqual(closeReq(2n));
    await turn();
    expect(h.relay.stats().established).toBe(0);
  });

  it('DIAL_CLS from the agent is forwarded to the client', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 14n));
    await a.stream.next();
    a.stream.push(dialCls(14n));
    expect(await c.stream.next()).toEqual(dialCls(14n));
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'backend_close' })).toBe(1);
    expect(h.relay.stats().pendingDials).toBe(0);
  });

  it('a client stream that ends sends DIAL_CLS for its pending dial and CLOSE_REQ for its connection', async () => {
    const h = harness();
    const a = h.agent();
    const pendingClient = h.client();
    pendingClient.stream.push(dialReq('10.0.0.1:1', 15n));
    await a.stream.next();
    const open = h.client();
    await establish(open, a, 16n, 4n);
    pendingClient.stream.end();
    expect(await a.stream.next()).toEqual(dialCls(15n));
    open.stream.fail(new Error('connection reset'));
    expect(await a.stream.next()).toEqual(closeReq(4n));
    await Promise.all([pendingClient.served, open.served]);
    zeroStats(h);
  });

  it('fails pending dials at once when their agent goes away, and closes its connections', async () => {
    const h = harness();
    const a = h.agent('lost-agent');
    const pendingClient = h.client();
    pendingClient.stream.push(dialReq('10.0.0.1:1', 17n));
    await a.stream.next();
    const open = h.client();
    await establish(open, a, 18n, 1n);

    a.stream.fail(new Error('agent connection reset'));
    const rsp = await pendingClient.stream.next();
    expect(rsp.type).toBe(PacketType.DIAL_RSP);
    const d = (rsp as Extract<Packet, { type: 1 }>).dialResponse;
    expect(d.random).toBe(17n);
    expect(d.error).toContain('lost-agent');
    const close = await open.stream.next();
    expect(close.type).toBe(PacketType.CLOSE_RSP);
    expect((close as Extract<Packet, { type: 3 }>).closeResponse.connectID).toBe(1n);
    await a.served;
    expect(h.backends.agentCount()).toBe(0);
    pendingClient.stream.end();
    open.stream.end();
    await Promise.all([pendingClient.served, open.served]);
    zeroStats(h);
  });

  it('fails a dial with no DIAL_RSP within backendDialTimeoutMs and cancels it at the agent', async () => {
    const h = harness({ backendDialTimeoutMs: 5_000 });
    const a = h.agent();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 19n));
    await a.stream.next();
    h.fake.tick(4_999);
    await turn();
    expect(c.stream.unread).toEqual([]);
    h.fake.tick(1);
    expect(await c.stream.next()).toEqual(dialRsp(19n, 0n, TEXT.backendDialTimeout));
    expect(await a.stream.next()).toEqual(dialCls(19n));
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'backend_dial_timeout' })).toBe(1);
    expect(h.relay.stats().pendingDials).toBe(0);
  });

  it('a DIAL_RSP in time clears the backend dial timeout', async () => {
    const h = harness({ backendDialTimeoutMs: 5_000 });
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 20n, 1n);
    expect(h.fake.countTimers()).toBe(0);
  });
});

describe('relay: flow control', () => {
  it('closes a stalled client alone while another connection on the same agent keeps flowing', async () => {
    const h = harness({ xfrChannelSize: 4, limits: { stallTimeoutMs: 10_000 } });
    const a = h.agent();
    const slow = h.client();
    await establish(slow, a, 1n, 1n);
    const fast = h.client();
    await establish(fast, a, 2n, 2n);

    slow.stream.setRoom(false); // the slow client stops reading
    for (let i = 0; i < 20; i++) {
      a.stream.push(data(1n, Buffer.from(`s${i}`)));
      a.stream.push(data(2n, Buffer.from(`f${i}`)));
    }
    for (let i = 0; i < 20; i++) expect(await fast.stream.next()).toEqual(data(2n, Buffer.from(`f${i}`)));
    expect(await h.metric(`${M}full_receive_channels`, { service_method: 'Proxy' })).toBe(1);

    h.fake.tick(10_000);
    await slow.served;
    expect(slow.stream.closeReason?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(slow.stream.closeReason?.message).toContain('stalled');
    expect(await a.stream.next()).toEqual(closeReq(1n));
    expect(await h.metric(`${M}full_receive_channels`, { service_method: 'Proxy' })).toBe(0);

    a.stream.push(data(2n, Buffer.from('still flowing')));
    expect(await fast.stream.next()).toEqual(data(2n, Buffer.from('still flowing')));
    expect(h.relay.stats()).toEqual({ pendingDials: 0, established: 1, sessions: 1 });
  });

  it('a client that catches up is not closed', async () => {
    const h = harness({ xfrChannelSize: 2, limits: { stallTimeoutMs: 1_000 } });
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 1n, 1n);
    c.stream.setRoom(false);
    for (let i = 0; i < 6; i++) a.stream.push(data(1n, Buffer.from([i])));
    await turn();
    h.fake.tick(999);
    c.stream.setRoom(true);
    for (let i = 0; i < 6; i++) expect(await c.stream.next()).toEqual(data(1n, Buffer.from([i])));
    h.fake.tick(10_000);
    await turn();
    expect(c.stream.closed).toBe(false);
    expect(await h.metric(`${M}full_receive_channels`, { service_method: 'Proxy' })).toBe(0);
  });

  it('closes a connection at once when its queue passes the hard byte bound', async () => {
    const h = harness({ xfrChannelSize: 1000, limits: { queueHardLimitBytes: 1000 } });
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 1n, 1n);
    c.stream.setRoom(false);
    for (let i = 0; i < 5; i++) a.stream.push(data(1n, Buffer.alloc(300)));
    await c.served;
    expect(c.stream.closeReason?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(c.stream.closeReason?.message).toContain('overflow');
    expect(await a.stream.next()).toEqual(closeReq(1n));
  });

  it('waits for the agent stream to drain before reading more from a client', async () => {
    const h = harness();
    const a = h.agent();
    const c = h.client();
    await establish(c, a, 1n, 1n);
    a.stream.setRoom(false);
    c.stream.push(data(1n, Buffer.from('1')));
    c.stream.push(data(1n, Buffer.from('2')));
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('1')));
    await turn();
    expect(a.stream.unread).toEqual([]); // the second waits for room
    a.stream.setRoom(true);
    expect(await a.stream.next()).toEqual(data(1n, Buffer.from('2')));
  });
});

describe('relay: agent packets', () => {
  it('DRAIN marks the agent draining; it is still used when it is the only one', async () => {
    const h = harness();
    const a = h.agent('only');
    a.stream.push(drain());
    await turn();
    expect([...h.backends.byAgent().get('only')!].map((b) => b.draining)).toEqual([true]);
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:1', 1n));
    expect(await a.stream.next()).toEqual(dialReq('10.0.0.1:1', 1n));
  });

  it('counts packets an agent must not send and keeps serving it', async () => {
    const h = harness();
    const a = h.agent();
    a.stream.push(dialReq('x:1', 1n));
    a.stream.push(closeReq(1n));
    const c = h.client();
    await establish(c, a, 2n, 1n);
    expect(await h.metric(`${M}bad_input_total`, { source: 'agent', reason: 'unexpected_packet' })).toBe(2);
  });

  it('refuses a DIAL_RSP reusing a connection ID that is in use', async () => {
    const h = harness();
    const a = h.agent();
    const first = h.client();
    await establish(first, a, 1n, 1n);
    const second = h.client();
    second.stream.push(dialReq('10.0.0.1:1', 2n));
    await a.stream.next();
    a.stream.push(dialRsp(2n, 1n));
    const rsp = await second.stream.next();
    expect((rsp as Extract<Packet, { type: 1 }>).dialResponse.error).toContain('already in use');
    a.stream.push(data(1n, Buffer.from('for first')));
    expect(await first.stream.next()).toEqual(data(1n, Buffer.from('for first')));
  });
});
