/**
 * Our agent against a server without pull mode (an upstream proxy-server,
 * simulated by a grpc-js server with only AgentService: every PullService
 * call gets UNIMPLEMENTED). Push keeps working; pull fails with a clear
 * error; the agent says so once in its log and in /readyz?verbose, and stays
 * ready.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultAgentConfig, TunnelAgent } from '../../src/agent/index.js';
import { defaultAgentPullConfig } from '../../src/agent/pull/index.js';
import { writeDevPki } from '../../src/certs/dev-ca.js';
import { newRegistry } from '../../src/observability/metrics.js';
import { data, dialReq, type Packet, PacketType } from '../../src/protocol/index.js';
import { PullError } from '../../src/transport/pull-errors.js';
import { EchoTarget, type FakeAgentStream, FakeProxyServer, recordingLogger, until } from '../support/agent-peers.js';
import { connectThrough } from '../support/pull-peers.js';

let dir: string;
let upstream: FakeProxyServer;
let echo: EchoTarget;
let agent: TunnelAgent;
let s: FakeAgentStream;
let healthPort: number;
let proxyPort: number;
const { logger, records } = recordingLogger();

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pull-upstream-'));
  const pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
  upstream = await FakeProxyServer.start({ serverID: 'upstream-1', pki });
  echo = await EchoTarget.start();
  agent = new TunnelAgent(
    defaultAgentConfig({
      agentID: 'cluster-a',
      proxyServerHost: '127.0.0.1',
      proxyServerPort: upstream.port,
      caCert: pki.caCert,
      healthServerHost: '127.0.0.1',
      healthServerPort: 0,
      adminServerPort: -1,
      allowEphemeralPorts: true,
      pull: defaultAgentPullConfig({ proxy: { host: '127.0.0.1', port: 0 } }),
    }),
    { logger, registry: newRegistry(false) },
  );
  const addrs = await agent.start();
  healthPort = addrs.healthPort!;
  proxyPort = addrs.pull!.proxyPort!;
  s = await upstream.nextStream();
  await until(() => agent.pull.status().unsupported === 1, 5000, 'pull found unsupported');
});

afterAll(async () => {
  await agent.stop();
  upstream.stop();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agent against a server without pull mode', () => {
  it('keeps push working', async () => {
    s.send(dialReq(echo.address, 41n));
    const rsp = await s.next((p: Packet) => p.type === PacketType.DIAL_RSP);
    if (rsp.type !== PacketType.DIAL_RSP) throw new Error('unreachable');
    expect(rsp.dialResponse.error).toBe('');
    const id = rsp.dialResponse.connectID;
    s.send(data(id, Buffer.from('push still works')));
    const back = await s.next((p: Packet) => p.type === PacketType.DATA);
    expect(back.type === PacketType.DATA && Buffer.from(back.data.data).toString()).toBe('push still works');
  });

  it('fails pull dials with ERR_PULL_UNAVAILABLE, and the CONNECT proxy answers 503', async () => {
    const err = await agent.pull.dial('kubernetes').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PullError);
    expect((err as PullError).code).toBe('ERR_PULL_UNAVAILABLE');
    expect((err as PullError).message).toBe('pull mode is unavailable: the connected tunnel server does not offer it');
    const c = await connectThrough(proxyPort, 'kubernetes:443');
    expect(c.status).toBe(503);
    expect(c.text).toMatch(/does not offer it/);
  });

  it('logs once that pull is unavailable, and stays ready with pull reported in verbose form', async () => {
    const warnings = records.filter((r) => String(r['message']).startsWith('pull mode is unavailable') && r['level'] === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!['message']).toMatch(/push mode keeps working/);
    expect(await get(`http://127.0.0.1:${healthPort}/readyz`)).toEqual({ status: 200, text: 'ok' });
    const verbose = await get(`http://127.0.0.1:${healthPort}/readyz?verbose`);
    expect(verbose.status).toBe(200);
    expect(verbose.text).toMatch(/^\[\+\]pull ok \(unavailable: the connected tunnel servers do not offer pull mode\)$/m);
    expect(agent.ready).toBe(true);
  });
});

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
      })
      .on('error', reject);
  });
}
