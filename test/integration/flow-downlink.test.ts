/**
 * The Downlink stream (proto/tunnel/v1/flow.proto, step 4): server→agent
 * bytes on a second connection of the agent's, so that both directions get a
 * large HTTP/2 window without the two-way stall of one Node↔Node connection.
 * Server and agent run in process; the agent reaches the server through a TCP
 * balancer on 127.0.0.1, which shows each TCP connection and its bytes.
 */
import { describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createTunnel } from '../../src/client/index.js';
import { DOWNLINK_PATH, FLOW_MD, FLOW_SCHEME } from '../../src/transport/flow-wire.js';
import { agentStreams, flowTestEnv, MiB, serverStreams, startTestAgent, startTestServer, waitFor } from '../support/flow-peers.js';
import { TestAgent } from '../support/server-peers.js';
import { TcpBalancer } from '../support/tcp-balancer.js';

const env = flowTestEnv('tunnel-downlink-');

async function server(limits = {}) {
  const s = await startTestServer(env.dir, env.pki, limits);
  env.cleanup.push(() => s.server.shutdown({ graceful: false }));
  return s;
}
async function balancer(ports: number[]) {
  const b = await TcpBalancer.start(ports);
  env.cleanup.push(() => b.stop());
  return b;
}
async function agent(port: number) {
  const a = await startTestAgent(port, env.pki);
  env.cleanup.push(() => a.agent.stop());
  return a;
}

/**
 * Sends `size` random bytes through one tunnel connection to the echo target
 * while reading the echo back (both directions at once on one connection);
 * resolves with the SHA-256 of what was sent and of what came back.
 */
async function echoBothWays(uds: string, size: number): Promise<{ sent: string; got: string; bytes: number }> {
  const tunnel = await createTunnel({ uds });
  try {
    const sock = await tunnel.dial(env.echo.address);
    const payload = randomBytes(size);
    const got = createHash('sha256');
    let bytes = 0;
    const back = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        got.update(d);
        bytes += d.length;
        if (bytes >= size) resolve();
      });
      sock.on('error', reject);
    });
    for (let off = 0; off < size; off += 256 * 1024) {
      if (!sock.write(payload.subarray(off, off + 256 * 1024))) await new Promise((r) => sock.once('drain', r));
    }
    await back;
    sock.end();
    return { sent: createHash('sha256').update(payload).digest('hex'), got: got.digest('hex'), bytes };
  } finally {
    await tunnel.close();
  }
}

describe('Downlink', () => {
  it('our agent opens it on a second connection; both admin views show it; server-to-agent bytes take it, both ways at once arrive intact', async () => {
    const s = await server();
    const lb = await balancer([s.agentPort]);
    const a = await agent(lb.port);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'Downlink attached at the server');
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: true, downlink: true })]);
    await waitFor(() => agentStreams(a.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'Downlink attached at the agent');
    expect(lb.links).toHaveLength(2);
    const [connect, downlink] = lb.links.map((l) => ({ ...l }));

    const r = await echoBothWays(s.uds, 16 * MiB);
    expect(r.bytes).toBe(16 * MiB);
    expect(r.got).toBe(r.sent);
    // Still two connections: the 16 MiB to the agent went on the second, the echo back on the first.
    expect(lb.links).toHaveLength(2);
    const toAgent = (i: number, before: { toClient: number }) => lb.links[i]!.toClient - before.toClient;
    const fromAgent = (i: number, before: { toBackend: number }) => lb.links[i]!.toBackend - before.toBackend;
    expect(toAgent(1, downlink!)).toBeGreaterThan(16 * MiB);
    expect(toAgent(0, connect!)).toBeLessThan(MiB);
    expect(fromAgent(0, connect!)).toBeGreaterThan(16 * MiB);
    expect(fromAgent(1, downlink!)).toBeLessThan(MiB);
  }, 60_000);

  it('a server that does not offer it: one connection, still flow-controlled, bytes both ways intact', async () => {
    const s = await server({ flowDownlink: false });
    const lb = await balancer([s.agentPort]);
    const a = await agent(lb.port);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1, 'agent registered');
    expect(await serverStreams(s.adminPort)).toEqual([expect.objectContaining({ flowControl: true, downlink: false })]);
    expect(await agentStreams(a.adminPort)).toEqual([expect.objectContaining({ flowControl: true, downlink: false })]);
    const r = await echoBothWays(s.uds, 4 * MiB);
    expect(r.got).toBe(r.sent);
    expect(lb.links).toHaveLength(1);
  }, 60_000);

  it('a second connection that reaches another replica is refused there; the agent carries on with Connect alone', async () => {
    const a1 = await server();
    const b1 = await server();
    const lb = await balancer([a1.agentPort, b1.agentPort]);
    const ag = await agent(lb.port);
    await waitFor(() => serverStreams(a1.adminPort), (v) => v.length === 1, 'agent registered at the first replica');
    // The Downlink went to the other replica (round robin), which does not know its token.
    await waitFor(() => Promise.resolve(lb.links.length), (n) => n === 2, 'the second connection');
    expect(lb.links.map((l) => l.backend)).toEqual([a1.agentPort, b1.agentPort]);
    await waitFor(() => Promise.resolve(lb.counts(b1.agentPort).open), (n) => n === 0, 'the refused connection closed by the agent');
    expect(await serverStreams(a1.adminPort)).toEqual([expect.objectContaining({ flowControl: true, downlink: false })]);
    expect(await serverStreams(b1.adminPort)).toEqual([]);
    expect(await agentStreams(ag.adminPort)).toEqual([expect.objectContaining({ flowControl: true, downlink: false })]);
    const r = await echoBothWays(a1.uds, 2 * MiB);
    expect(r.got).toBe(r.sent);
  }, 60_000);

  it('an attached Downlink that breaks ends its Connect stream; the agent reconnects and attaches a new one', async () => {
    const s = await server();
    const lb = await balancer([s.agentPort]);
    const a = await agent(lb.port);
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'Downlink attached');
    lb.links[1]!.destroy();
    await waitFor(() => Promise.resolve(lb.links.length), (n) => n === 4, 'a new Connect and a new Downlink');
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'Downlink attached again');
    await waitFor(() => agentStreams(a.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'the agent shows it again');
    const r = await echoBothWays(s.uds, 2 * MiB);
    expect(r.got).toBe(r.sent);
  }, 60_000);

  it('a Downlink stream must come with the client certificate of its Connect stream (PERMISSION_DENIED otherwise)', async () => {
    const s = await server();
    const ta = downlinkAnnouncer(s.agentPort);
    const token = (await ta.headers).get(FLOW_MD.stream).map(String)[0]!;
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    // Another client certificate of the same CA, which knows the token.
    const other = new grpc.Client(
      `localhost:${s.agentPort}`,
      grpc.credentials.createSsl(readFileSync(env.pki.caCert), readFileSync(env.pki.clientKey), readFileSync(env.pki.clientCert)),
    );
    env.cleanup.push(() => other.close());
    const refused = await openDownlink(other, token).status;
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(refused.details).toContain('client certificate');
    // The agent's own certificate, on a second channel as our agent does: attached (headers come).
    const own = new grpc.Client(
      `localhost:${s.agentPort}`,
      grpc.credentials.createSsl(readFileSync(env.pki.caCert), readFileSync(env.pki.agentKey), readFileSync(env.pki.agentCert)),
      { 'grpc.use_local_subchannel_pool': 1 },
    );
    env.cleanup.push(() => own.close());
    const attached = openDownlink(own, token);
    await new Promise<void>((resolve, reject) => {
      attached.call.once('metadata', () => resolve());
      void attached.status.then((st) => reject(new Error(`refused: ${st.code} ${st.details}`)));
    });
    await waitFor(() => serverStreams(s.adminPort), (v) => v.length === 1 && v[0]!.downlink, 'Downlink attached');
  });

  it('a Downlink stream naming a token the server does not know is refused NOT_FOUND', async () => {
    const s = await server();
    const ta = downlinkAnnouncer(s.agentPort);
    const headers = await ta.headers;
    expect(headers.get(FLOW_MD.downlink)).toEqual(['1']);
    const status = await openDownlink(ta.client, 'no-such-token').status;
    expect(status.code).toBe(grpc.status.NOT_FOUND);
    expect(status.details).toContain(FLOW_MD.stream);
  });
});

/** A raw agent whose Connect announces credits and Downlink (our server answers with the token). */
function downlinkAnnouncer(agentPort: number): TestAgent {
  const ta = new TestAgent({
    agentPort,
    tls: { caCert: env.pki.caCert, cert: env.pki.agentCert, key: env.pki.agentKey },
    agentID: 'cluster-a',
    metadata: { [FLOW_MD.control]: FLOW_SCHEME, [FLOW_MD.window]: String(MiB), [FLOW_MD.downlink]: '1' },
  });
  env.cleanup.push(() => ta.close());
  return ta;
}

/** Opens FlowService.Downlink on `client` with `token`: the call and its final status. */
function openDownlink(client: grpc.Client, token: string): { call: grpc.ClientDuplexStream<Buffer, Buffer>; status: Promise<grpc.StatusObject> } {
  const md = new grpc.Metadata();
  md.set(FLOW_MD.stream, token);
  const id = (b: Buffer): Buffer => b;
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(DOWNLINK_PATH, id, id, md);
  call.on('error', () => undefined);
  call.on('data', () => undefined);
  env.cleanup.push(() => call.cancel());
  return { call, status: new Promise((r) => call.once('status', r)) };
}
