/**
 * Which stream a server→agent packet takes once the agent's Downlink stream
 * is attached (proto/tunnel/v1/flow.proto, step 4): a connection's DATA and
 * CLOSE_REQ stay on the stream it started on, so they stay in order; only
 * connections established after the attach use the Downlink.
 */
import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry, ServerMetrics } from '../../../src/observability/metrics.js';
import { closeReq, data, dialCls, dialReq, parseIdentifiers, type Packet } from '../../../src/protocol/index.js';
import { Backend } from '../../../src/server/backend.js';
import { FakePacketStream } from './fake-stream.js';

function setup(): { b: Backend; connect: FakePacketStream; downlink: FakePacketStream } {
  const connect = new FakePacketStream('connect');
  const b = new Backend({
    seq: 1,
    agentID: 'a',
    identifiersText: '',
    identifiers: parseIdentifiers('', false),
    identity: { subject: 'a', method: 'none' },
    stream: connect,
    logger: silentLogger(),
    metrics: new ServerMetrics(newRegistry(false)).stream,
    connectedAt: 0,
  });
  return { b, connect, downlink: new FakePacketStream('downlink') };
}

const bytes = (s: string): Buffer => Buffer.from(s);
const describePackets = (ps: Packet[]): string[] =>
  ps.map((p) => (p.type === 4 ? `DATA ${p.data.connectID} ${Buffer.from(p.data.data).toString()}` : p.type === 2 ? `CLOSE_REQ ${p.closeRequest.connectID}` : `type ${p.type}`));

describe('Backend with a Downlink stream', () => {
  it('connections established before the attach stay on Connect; later ones use the Downlink to their CLOSE_REQ', () => {
    const { b, connect, downlink } = setup();
    b.established(1n);
    expect(b.downlink).toBe(false);
    b.attachDownlink(downlink);
    expect(b.downlink).toBe(true);
    b.established(2n);
    for (const p of [data(1n, bytes('one')), data(2n, bytes('two')), dialReq('10.0.0.1:443', 9n), dialCls(9n), closeReq(1n), data(2n, bytes('more')), closeReq(2n)]) b.send(p);
    expect(describePackets(connect.written)).toEqual(['DATA 1 one', 'type 0', 'type 5', 'CLOSE_REQ 1']);
    expect(describePackets(downlink.written)).toEqual(['DATA 2 two', 'DATA 2 more', 'CLOSE_REQ 2']);
    // After its CLOSE_REQ a connection is forgotten: a late packet for its id (not one of ours) goes on Connect.
    b.send(closeReq(2n));
    expect(describePackets(connect.written).at(-1)).toBe('CLOSE_REQ 2');
  });

  it('a connection the agent closed (CLOSE_RSP) is forgotten; a second attach is ignored', () => {
    const { b, connect, downlink } = setup();
    b.attachDownlink(downlink);
    b.attachDownlink(new FakePacketStream('other'));
    b.established(3n);
    b.send(data(3n, bytes('x')));
    b.closedByAgent(3n);
    b.send(closeReq(3n));
    expect(describePackets(downlink.written)).toEqual(['DATA 3 x']);
    expect(describePackets(connect.written)).toEqual(['CLOSE_REQ 3']);
  });

  it('drained() waits until both streams have room', async () => {
    const { b, connect, downlink } = setup();
    b.attachDownlink(downlink);
    b.established(4n);
    downlink.setRoom(false);
    expect(b.send(data(4n, bytes('y')))).toBe(false);
    let done = false;
    const wait = b.drained().then(() => (done = true));
    connect.setRoom(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(false);
    downlink.setRoom(true);
    await wait;
    expect(done).toBe(true);
  });
});
