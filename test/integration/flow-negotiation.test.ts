/**
 * Flow-control negotiation (src/transport/FLOW-CONTROL.md, "Wire format"),
 * and peers that break their credit:
 * - our agent and our server negotiate credits-v1 (shown on both admin
 *   ports) and bytes flow;
 * - our agent against an upstream-like server that ignores the metadata runs
 *   without flow control and never opens Credits; an upstream-like agent
 *   against our server gets no flow-control headers, and works;
 * - a Credits stream with an unknown token is refused NOT_FOUND; a Connect
 *   whose Credits stream never comes is closed UNAVAILABLE; an agent whose
 *   Credits stream is refused reconnects;
 * - a peer (agent or server) that sends more than its credit gets that one
 *   connection closed, bad_input_total{reason="flow_credit"} counts it, and
 *   the other connections carry on.
 */
import { describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createTunnel } from '../../src/client/index.js';
import { data, dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { CREDITS_PATH, FLOW_MD, FLOW_SCHEME } from '../../src/transport/flow-wire.js';
import { FakeProxyServer } from '../support/agent-peers.js';
import {
  agentStreams,
  flowTestEnv,
  metric,
  MiB,
  RawFlowServer,
  serverConnections,
  serverStreams,
  startTestAgent,
  startTestServer,
  waitFor,
} from '../support/flow-peers.js';
import { TestAgent, TestProxyClient } from '../support/server-peers.js';

const env = flowTestEnv('tunnel-flow-neg-');

const peerTls = () => ({ caCert: env.pki.caCert, cert: env.pki.agentCert, key: env.pki.agentKey });
const flowMetadata = (window = MiB) => ({ [FLOW_MD.control]: FLOW_SCHEME, [FLOW_MD.window]: String(window) });
const isData = (cid: bigint) => (p: Packet) => p.type === PacketType.DATA && p.data.connectID === cid;

async function server(limits = {}) {
  const s = await startTestServer(env.dir, env.pki, limits);
  env.cleanup.push(() => s.server.shutdown({ graceful: false }));
  return s;
}
async function agent(port: number, limits = {}) {
  const a = await startTestAgent(port, env.pki, limits);
  env.cleanup.push(() => a.agent.stop());
  return a;
}
function testAgent(port: number, metadata?: Record<string, string>): TestAgent {
  const a = new TestAgent({ agentPort: port, tls: peerTls(), agentID: 'cluster-a', ...(metadata ? { metadata } : {}) });
  env.cleanup.push(() => a.close());
  return a;
}
function proxyClient(uds: string): TestProxyClient {
  const c = new TestProxyClient({ uds });
  env.cleanup.push(() => c.close());
  return c;
}

/** Echoes `text` through the UDS frontend and the agent. */
async function echoThrough(uds: string, text: string): Promise<string> {
  const tunnel = await createTunnel({ uds });
  try {
    const sock = await tunnel.dial(env.echo.address);
    const back = new Promise<string>((resolve, reject) => {
      let got = '';
      sock.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= text.length) resolve(got);
      });
      sock.on('error', reject);
    });
    sock.write(text);
    const r = await back;
    sock.end();
    return r;
  } finally {
    await tunnel.close();
  }
}

/** Opens FlowService.Credits on `client` with `token`; resolves with its final status. */
function openCredits(client: grpc.Client, token: string): { call: grpc.ClientDuplexStream<Buffer, Buffer>; status: Promise<grpc.StatusObject> } {
  const md = new grpc.Metadata();
  md.set(FLOW_MD.stream, token);
  const id = (b: Buffer): Buffer => b;
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(CREDITS_PATH, id, id, md);
  call.on('error', () => undefined);
  call.on('data', () => undefined);
  env.cleanup.push(() => call.cancel());
  return { call, status: new Promise((r) => call.once('status', r)) };
}

describe('negotiation', () => {
  it('our agent and our server negotiate credits; both admin views say so, and bytes flow', async () => {
    const s = await server();
    const a = await agent(s.agentPort);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1, 'agent registered');
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: true })]);
    expect(await agentStreams(a.adminPort)).toEqual([expect.objectContaining({ flowControl: true })]);
    const text = 'x'.repeat(300_000);
    expect(await echoThrough(s.uds, text)).toBe(text);
  });

  it('our agent against an upstream-like server: announced, unanswered, runs without flow control', async () => {
    const fake = await FakeProxyServer.start({ serverID: 'upstream', pki: env.pki });
    env.cleanup.push(() => fake.stop());
    const a = await agent(fake.port);
    const st = await fake.nextStream();
    // It announced...
    expect(st.metadata[FLOW_MD.control]).toEqual([FLOW_SCHEME]);
    expect(st.metadata[FLOW_MD.window]).toEqual([String(MiB)]);
    await waitFor(() => agentStreams(a.adminPort), (v) => v.length === 1, 'agent stream');
    expect(await agentStreams(a.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
    // ...and works: a dial and 2 MiB echoed without any grant (more than a window).
    st.send(dialReq(env.echo.address, 5n));
    const rsp = await st.next((p) => p.type === PacketType.DIAL_RSP);
    const cid = rsp.type === PacketType.DIAL_RSP ? rsp.dialResponse.connectID : 0n;
    expect(cid).not.toBe(0n);
    const payload = Buffer.alloc(2 * MiB, 7);
    for (let off = 0; off < payload.length; off += 64 * 1024) st.send(data(cid, payload.subarray(off, off + 64 * 1024)));
    let got = 0;
    while (got < payload.length) {
      const p = await st.next(isData(cid));
      got += p.type === PacketType.DATA ? p.data.data.length : 0;
    }
    expect(got).toBe(payload.length);
    // Still the one stream: the agent did not give up on it (it opened no Credits stream, which this server lacks).
    expect(fake.attempts).toHaveLength(1);
    expect((await agentStreams(a.adminPort))[0]!.endpointConnections).toHaveLength(1);
  });

  it('an upstream-like agent against our server gets no flow-control headers and works', async () => {
    const s = await server();
    const ta = testAgent(s.agentPort);
    const headers = await ta.headers;
    expect(Object.keys(headers.getMap()).filter((k) => k.startsWith('tunnel-'))).toEqual([]);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1, 'agent registered');
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
    const c = proxyClient(s.uds);
    const rsp = await c.dial(env.echo.address);
    expect(rsp.error).toBe('');
    c.stream.write(data(rsp.connectID, Buffer.from('no credits needed')));
    expect((await c.readBytes(17)).toString()).toBe('no credits needed');
    expect(await serverConnections(s.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
  });

  it('an announced window outside 16 KiB to 64 MiB is ignored: no flow control, counted as bad input', async () => {
    const s = await server();
    for (const window of [16 * 1024 - 1, 64 * MiB + 1]) {
      const before = await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { reason: 'flow_window' });
      const ta = testAgent(s.agentPort, flowMetadata(window));
      const headers = await ta.headers;
      expect(Object.keys(headers.getMap()).filter((k) => k.startsWith('tunnel-'))).toEqual([]);
      expect(await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { reason: 'flow_window' })).toBe(before + 1);
      await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1, 'agent registered');
      expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
      ta.close();
      await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 0, 'agent gone');
    }
  });

  it('a server with flow control turned off (window 0) leaves our agent without it; bytes flow', async () => {
    const s = await server({ flowWindowBytes: 0 });
    const a = await agent(s.agentPort);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1, 'agent registered');
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
    expect(await agentStreams(a.adminPort)).toEqual([expect.objectContaining({ flowControl: false })]);
    expect(await echoThrough(s.uds, 'without credits')).toBe('without credits');
  });

  it('a Credits stream with an unknown token is refused NOT_FOUND', async () => {
    const s = await server();
    const ta = testAgent(s.agentPort, flowMetadata());
    const headers = await ta.headers;
    expect(headers.get(FLOW_MD.control)).toEqual([FLOW_SCHEME]);
    const before = await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { reason: 'flow_stream' });
    const { status } = openCredits(ta.client, 'no-such-token');
    expect((await status).code).toBe(grpc.status.NOT_FOUND);
    expect(await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { reason: 'flow_stream' })).toBe(before + 1);
    // The right token on the same channel is accepted.
    const good = openCredits(ta.client, String(headers.get(FLOW_MD.stream)[0]));
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.flowControl, 'flow-controlled stream');
    good.call.end();
  });

  it('a Connect whose Credits stream does not come within the attach timeout is closed UNAVAILABLE', async () => {
    const s = await server({ flowAttachTimeoutMs: 300 });
    const ta = testAgent(s.agentPort, flowMetadata());
    expect((await ta.headers).get(FLOW_MD.stream)).toHaveLength(1);
    const st = await ta.status;
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(st.details).toContain('Credits');
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 0, 'stream gone');
  });

  it('a Credits stream that ends while Connect is open closes Connect UNAVAILABLE', async () => {
    const s = await server();
    const ta = testAgent(s.agentPort, flowMetadata());
    const credits = openCredits(ta.client, String((await ta.headers).get(FLOW_MD.stream)[0]));
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.flowControl, 'flow-controlled stream');
    credits.call.end();
    const st = await ta.status;
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(st.details).toContain('Credits');
  });

  it('our agent whose Credits stream is refused closes Connect and reconnects', async () => {
    const raw = await RawFlowServer.start({ pki: env.pki, windowBytes: MiB, credits: 'refuse' });
    env.cleanup.push(() => raw.stop());
    await agent(raw.port);
    await waitFor(() => raw.attempts.length, (n) => n >= 3, 'reconnects');
    expect(raw.creditCalls).toBeGreaterThanOrEqual(2);
    // Each attempt announced flow control again.
    for (const md of raw.attempts) expect(md[FLOW_MD.control]).toEqual([FLOW_SCHEME]);
  });
});

describe('a peer over its credit', () => {
  it('an agent that sends more than its credit: that connection alone is closed, counted, the other one works', async () => {
    const s = await server();
    const ta = testAgent(s.agentPort, flowMetadata());
    const headers = await ta.headers;
    openCredits(ta.client, String(headers.get(FLOW_MD.stream)[0]));
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.flowControl, 'flow-controlled stream');
    const bad = proxyClient(s.uds);
    const good = proxyClient(s.uds);
    const rb = await bad.dial(env.echo.address);
    const rg = await good.dial(env.echo.address);
    expect(await serverConnections(s.adminPort)).toHaveLength(2);
    const before = await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { source: 'agent', reason: 'flow_credit' });

    // The server's window is 1 MiB: one DATA of 1 MiB + 1 byte, before any grant, is over it.
    ta.send(data(rb.connectID, Buffer.alloc(MiB + 1)));
    const st = await bad.status;
    expect(st.code).not.toBe(grpc.status.OK);
    expect(st.details).toContain('credit');
    await ta.until(() => ta.closeRequests.includes(rb.connectID));
    expect(await metric(s.registry, 'konnectivity_network_proxy_server_bad_input_total', { source: 'agent', reason: 'flow_credit' })).toBe(before + 1);

    good.stream.write(data(rg.connectID, Buffer.from('still here')));
    expect((await good.readBytes(10)).toString()).toBe('still here');
    expect(await serverConnections(s.adminPort)).toEqual([expect.objectContaining({ connectID: String(rg.connectID) })]);
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: true, connections: 1 })]);
  });

  it('a server that sends more than its credit: the agent closes that connection with an error, counts it, the other one works', async () => {
    const raw = await RawFlowServer.start({ pki: env.pki, windowBytes: MiB });
    env.cleanup.push(() => raw.stop());
    const a = await agent(raw.port);
    const st = await raw.nextStream();
    const window = Number(st.metadata[FLOW_MD.window]![0]);
    expect(window).toBe(MiB);
    await waitFor(() => raw.creditCalls, (n) => n === 1, 'Credits stream');

    st.send(dialReq(env.echo.address, 1n));
    st.send(dialReq(env.echo.address, 2n));
    const cids: bigint[] = [];
    for (const random of [1n, 2n]) {
      const p = await st.next((q) => q.type === PacketType.DIAL_RSP && q.dialResponse.random === random);
      cids.push(p.type === PacketType.DIAL_RSP ? p.dialResponse.connectID : 0n);
    }
    const [badID, goodID] = cids as [bigint, bigint];

    st.send(data(badID, Buffer.alloc(window + 1)));
    const close = await st.next((p) => p.type === PacketType.CLOSE_RSP && p.closeResponse.connectID === badID);
    expect(close.type === PacketType.CLOSE_RSP && close.closeResponse.error).toContain('credit');
    expect(await metric(a.registry, 'konnectivity_network_proxy_agent_bad_input_total', { reason: 'flow_credit' })).toBe(1);

    st.send(data(goodID, Buffer.from('still here')));
    const back = await st.next(isData(goodID));
    expect(back.type === PacketType.DATA && Buffer.from(back.data.data).toString()).toBe('still here');
    const view = await agentStreams(a.adminPort);
    expect(view[0]!.flowControl).toBe(true);
    expect(view[0]!.endpointConnections.map((c) => c.connectID)).toEqual([String(goodID)]);
    // The stream itself stayed up.
    expect(raw.attempts).toHaveLength(1);
  });
});
