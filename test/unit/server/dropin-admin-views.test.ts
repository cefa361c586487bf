/**
 * The admin port's /connections view (connections-view.ts) over a relay
 * with a fake clock: a pending dial shows who is waiting for which agent and
 * for how long; an established connection shows its agent, connection id
 * and address; both lists empty again once the client is gone. Also the
 * to_client count of a DIAL_RSP the server answers itself.
 */
import { describe, expect, it } from '@jest/globals';
import { closeReq, closeRsp, dialReq, dialRsp } from '../../../src/protocol/index.js';
import { connectionsView } from '../../../src/server/connections-view.js';
import { harness, turn } from './relay-harness.js';

const clockOf = (h: ReturnType<typeof harness>) => ({
  now: () => h.fake.now,
  setTimeout: (fn: () => void, ms: number) => h.fake.setTimeout(fn, ms),
  clearTimeout: (t: unknown) => h.fake.clearTimeout(t as never),
});

describe('admin /connections view', () => {
  it('lists a pending dial with its id as a decimal string, then the established connection, then nothing', async () => {
    const h = harness();
    const clock = clockOf(h);
    const a = h.agent('cluster-a');
    const c = h.client();
    expect(connectionsView(h.relay, clock)).toEqual({ pendingDials: [], established: [] });

    const random = 0x7fff_ffff_ffff_fff0n; // beyond 2^53: must not lose digits
    c.stream.push(dialReq('10.0.0.1:10250', random));
    expect((await a.stream.next()).type).toBe(0);
    h.fake.tick(3_000);
    expect(connectionsView(h.relay, clock)).toEqual({
      pendingDials: [
        { dialID: '9223372036854775792', address: '10.0.0.1:10250', agentID: 'cluster-a', frontend: 'grpc', peer: c.stream.peer, waitingSeconds: 3 },
      ],
      established: [],
    });

    a.stream.push(dialRsp(random, 5n));
    await c.stream.next();
    h.fake.tick(61_000);
    expect(connectionsView(h.relay, clock)).toEqual({
      pendingDials: [],
      established: [{ agentID: 'cluster-a', connectID: '5', address: '10.0.0.1:10250', frontend: 'grpc', peer: c.stream.peer, openSeconds: 61, flowControl: false, queuedBytes: 0 }],
    });

    c.stream.push(closeReq(5n));
    await a.stream.next();
    a.stream.push(closeRsp(5n));
    await c.stream.next();
    c.stream.end();
    await c.served;
    await turn();
    expect(connectionsView(h.relay, clock)).toEqual({ pendingDials: [], established: [] });
  });

  it('counts the "No agent available" DIAL_RSP the server sends itself as to_client, as upstream does', async () => {
    const h = harness();
    const c = h.client();
    c.stream.push(dialReq('10.0.0.1:443', 9n));
    expect((await c.stream.next()).type).toBe(1);
    const M = 'konnectivity_network_proxy_server_';
    expect(await h.metric(`${M}stream_packets_total`, { segment: 'from_client', packet_type: 'DIAL_REQ' })).toBe(1);
    expect(await h.metric(`${M}stream_packets_total`, { segment: 'to_client', packet_type: 'DIAL_RSP' })).toBe(1);
    expect(await h.metric(`${M}dial_failure_count`, { reason: 'no_agent' })).toBe(1);
    c.stream.end();
    await c.served;
  });
});
