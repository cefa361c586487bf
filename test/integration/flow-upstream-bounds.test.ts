/**
 * Bounds without flow control (src/transport/FLOW-CONTROL.md, "Bounds
 * without flow control"): with an upstream-like peer on one side, a
 * connection whose reader stalls is queued up to its bound, then closed
 * alone with an error; the shared stream is never blocked and the other
 * connections carry on.
 * - server with an upstream-like agent: a client that stops reading is
 *   closed after stallTimeoutMs while full (full_receive_channels shows it,
 *   stream_errors_total{code="stalled"} counts it), or at once past
 *   queueHardLimitBytes (code="overflow"); CLOSE_REQ goes to the agent;
 * - our agent with an upstream-like server: an endpoint that stops reading
 *   is closed with a CLOSE_RSP error after the stall timeout, or at once past
 *   hardLimitFactor times its bound.
 * Bounds are shortened through ServerDeps.limits / AgentDeps.limits.
 */
import { describe, expect, it } from '@jest/globals';
import { createTunnel } from '../../src/client/index.js';
import { data, dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { FakeProxyServer } from '../support/agent-peers.js';
import {
  agentStreams,
  flowTestEnv,
  metric,
  MiB,
  serverConnections,
  serverStreams,
  startFirehose,
  startSink,
  startTestAgent,
  startTestServer,
  waitFor,
} from '../support/flow-peers.js';
import { TestAgent, TestProxyClient } from '../support/server-peers.js';

const env = flowTestEnv('tunnel-flow-upstream-');

const S = 'konnectivity_network_proxy_server';

/** Echo round trips on a fresh Proxy stream through the same agent. */
async function echoWorks(uds: string, text: string): Promise<void> {
  const c = new TestProxyClient({ uds });
  try {
    const rsp = await c.dial(env.echo.address);
    expect(rsp.error).toBe('');
    c.stream.write(data(rsp.connectID, Buffer.from(text)));
    expect((await c.readBytes(text.length)).toString()).toBe(text);
  } finally {
    c.close();
  }
}

describe('server with an upstream-like agent (no credits)', () => {
  async function setup(limits: { stallTimeoutMs: number; queueHardLimitBytes: number }) {
    const s = await startTestServer(env.dir, env.pki, limits);
    env.cleanup.push(() => s.server.shutdown({ graceful: false }));
    const ta = new TestAgent({ agentPort: s.agentPort, tls: { caCert: env.pki.caCert, cert: env.pki.agentCert, key: env.pki.agentKey }, agentID: 'cluster-a' });
    env.cleanup.push(() => ta.close());
    await ta.headers;
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && !v[0]!.flowControl, 'upstream-like agent');
    const fire = await startFirehose(8 * MiB, false); // then silent, the connection open
    env.cleanup.push(() => fire.close());
    const tunnel = await createTunnel({ uds: s.uds });
    env.cleanup.push(() => tunnel.close());
    const sock = await tunnel.dial(fire.address);
    sock.pause();
    let received = 0;
    const outcome = new Promise<Error>((resolve) => {
      sock.once('error', resolve);
      sock.once('end', () => resolve(new Error(`clean end after ${received} bytes`)));
    });
    /** Reads again; resolves with how the socket ended (an error, or a clean end as an Error naming it). */
    const failed = (): Promise<Error> => {
      sock.on('data', (d: Buffer) => (received += d.length));
      sock.resume();
      return outcome;
    };
    return { s, ta, sock, failed };
  }

  it('a client that stops reading is closed alone after the stall timeout; the others are unaffected', async () => {
    const { s, ta, failed } = await setup({ stallTimeoutMs: 1500, queueHardLimitBytes: 64 * MiB });
    const stalledBefore = await metric(s.registry, `${S}_stream_errors_total`, { segment: 'to_client', code: 'stalled' });
    // Full past --xfr-channel-size packets: the gauge shows it, bytes queue in the server.
    await waitFor(() => metric(s.registry, `${S}_full_receive_channels`, { service_method: 'Proxy' }), (n) => n === 1, 'full receive channel');
    const [view] = await serverConnections(s.adminPort);
    expect(view!.flowControl).toBe(false);
    expect(view!.queuedBytes).toBeGreaterThan(0);
    // Meanwhile the agent's other connections work.
    await echoWorks(s.uds, 'while one connection is stalled');

    // The server closes it: CLOSE_REQ to the agent, counted, released.
    await ta.until(() => ta.closeRequests.includes(1n)); // the firehose's connection, the agent's first
    expect(await metric(s.registry, `${S}_stream_errors_total`, { segment: 'to_client', code: 'stalled' })).toBe(stalledBefore + 1);
    expect(await metric(s.registry, `${S}_full_receive_channels`, { service_method: 'Proxy' })).toBe(0);
    await waitFor(() => serverConnections(s.adminPort), (v) => v.length === 0, 'connection released');
    // The client, once it reads again, gets what had reached it and then the error, not a clean end.
    const err = await failed();
    expect(err.message).toContain('stalled');
    // The shared stream is still up and serves new connections.
    await echoWorks(s.uds, 'after the stalled one was closed');
    expect(await serverStreams(s.adminPort)).toHaveLength(1);
  }, 20_000);

  it('past the hard byte bound the connection is closed at once, alone', async () => {
    const { s, ta, failed } = await setup({ stallTimeoutMs: 60_000, queueHardLimitBytes: 2 * MiB });
    // No stall timer here (60 s): the byte bound closes it as soon as it is passed.
    await ta.until(() => ta.closeRequests.includes(1n)); // the firehose's connection, the agent's first
    expect(await metric(s.registry, `${S}_stream_errors_total`, { segment: 'to_client', code: 'overflow' })).toBe(1);
    expect(await metric(s.registry, `${S}_stream_errors_total`, { segment: 'to_client', code: 'stalled' })).toBe(0);
    const err = await failed();
    expect(err.message).toContain('overflow');
    await echoWorks(s.uds, 'after the overflowing one was closed');
  }, 20_000);
});

describe('our agent with an upstream-like server (no credits)', () => {
  const isCloseRsp = (cid: bigint) => (p: Packet) => p.type === PacketType.CLOSE_RSP && p.closeResponse.connectID === cid;

  async function setup(limits: { stallTimeoutMs: number; maxQueuedBytes: number; hardLimitFactor: number }) {
    const fake = await FakeProxyServer.start({ serverID: 'upstream', pki: env.pki });
    env.cleanup.push(() => fake.stop());
    const a = await startTestAgent(fake.port, env.pki, { ...limits, maxQueuedPackets: 100_000 });
    env.cleanup.push(() => a.agent.stop());
    const st = await fake.nextStream();
    const sink = await startSink();
    env.cleanup.push(() => sink.close());
    sink.setReading(false);
    const dial = async (address: string, random: bigint): Promise<bigint> => {
      st.send(dialReq(address, random));
      const p = await st.next((q) => q.type === PacketType.DIAL_RSP && q.dialResponse.random === random);
      return p.type === PacketType.DIAL_RSP ? p.dialResponse.connectID : 0n;
    };
    const stalled = await dial(sink.address, 1n);
    const other = await dial(env.echo.address, 2n);
    /** Sends `n` 64 KiB DATA packets for the stalled connection (never waiting: an upstream server does not). */
    const flood = (n: number): void => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < n; i++) st.send(data(stalled, chunk));
    };
    const echoes = async (text: string): Promise<void> => {
      st.send(data(other, Buffer.from(text)));
      let got = '';
      while (got.length < text.length) {
        const p = await st.next((q) => q.type === PacketType.DATA && q.data.connectID === other);
        got += p.type === PacketType.DATA ? Buffer.from(p.data.data).toString() : '';
      }
      expect(got).toBe(text);
    };
    return { a, st, stalled, other, flood, echoes };
  }

  it('an endpoint that stops reading is closed with an error after the stall timeout; the others are unaffected', async () => {
    const { a, st, stalled, flood, echoes } = await setup({ stallTimeoutMs: 1500, maxQueuedBytes: MiB, hardLimitFactor: 1000 });
    flood(160); // 10 MiB: more than the kernel buffers take, so the agent queues past its 1 MiB bound
    await waitFor(
      () => agentStreams(a.adminPort),
      (v) => (v[0]?.endpointConnections.find((c) => c.connectID === String(stalled))?.queuedBytes ?? 0) > MiB,
      'queue over the bound',
    );
    expect((await agentStreams(a.adminPort))[0]!.flowControl).toBe(false);
    await echoes('while one connection is stalled');
    const close = await st.next((p) => p.type === PacketType.CLOSE_RSP && p.closeResponse.connectID === stalled);
    expect(close.type === PacketType.CLOSE_RSP && close.closeResponse.error).toContain('stalled');
    await echoes('after the stalled one was closed');
    expect((await agentStreams(a.adminPort))[0]!.endpointConnections.map((c) => c.connectID)).toEqual(['2']);
  }, 20_000);

  it('far over its bound the connection is closed at once, alone', async () => {
    const { st, stalled, flood, echoes } = await setup({ stallTimeoutMs: 60_000, maxQueuedBytes: MiB, hardLimitFactor: 4 });
    const started = Date.now();
    flood(320); // 20 MiB: past the kernel buffers and 4 times the 1 MiB bound
    const close = await st.next(isCloseRsp(stalled));
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(close.type === PacketType.CLOSE_RSP && close.closeResponse.error).toContain('not reading');
    await echoes('after the overflowing one was closed');
  }, 20_000);
});
