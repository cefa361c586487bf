/**
 * A benchmark environment: a target, the baseline relay, and the tunnel
 * (server and agent started through the real CLI as separate processes, so
 * their memory is measured apart from the benchmark's client).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { createTunnel, type Tunnel } from '../../src/client/index.js';
import { patternBlock } from './pattern.js';
import { type Proc, startCli, startScript } from './procs.js';

export type Connector = () => Promise<Duplex>;

export interface BenchEnv {
  dir: string;
  pki: DevPkiFiles;
  block: Buffer;
  seed: string;
  target: Proc;
  relay: Proc;
  server: Proc;
  agent: Proc;
  uds: string;
  targetAddr: string;
  /** Tunnel over the Unix socket frontend (reused for many dials). */
  udsTunnel: Tunnel;
  /** Tunnel over the mTLS TCP frontend. */
  tcpTunnel: Tunnel;
  baseline: Connector;
  viaUds: Connector;
  viaTcp: Connector;
  viaConnect: Connector;
  close(): Promise<void>;
}

export async function startServerAndAgent(
  dir: string,
  pki: DevPkiFiles,
  extraServer: string[] = [],
): Promise<{ server: Proc; agent: Proc; uds: string }> {
  const uds = path.join(dir, `proxy-${Date.now()}.sock`);
  const server = await startCli(
    [
      '--mode=server',
      `--uds-name=${uds}`,
      '--server-port=0',
      `--server-cert=${pki.serverCert}`,
      `--server-key=${pki.serverKey}`,
      `--server-ca-cert=${pki.caCert}`,
      '--agent-port=0',
      `--cluster-cert=${pki.serverCert}`,
      `--cluster-key=${pki.serverKey}`,
      `--cluster-ca-cert=${pki.caCert}`,
      '--health-port=0',
      '--admin-port=0',
      ...extraServer,
    ],
    'server',
  );
  const agent = await startCli(
    [
      '--mode=agent',
      '--agent-id=bench',
      '--proxy-server-host=127.0.0.1',
      `--proxy-server-port=${String(server.info['agentPort'])}`,
      `--ca-cert=${pki.caCert}`,
      `--agent-cert=${pki.agentCert}`,
      `--agent-key=${pki.agentKey}`,
      '--health-server-port=0',
      '--admin-server-port=0',
    ],
    'agent',
  );
  await waitReady(Number(server.info['healthPort']));
  return { server, agent, uds };
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('tunnel server not ready (no agent) after 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens an HTTP CONNECT tunnel over the server's Unix socket. */
export function connectVia(uds: string, target: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: uds, method: 'CONNECT', path: target, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`CONNECT answered ${res.statusCode}`));
      } else resolve(socket);
    });
    req.once('error', reject);
    req.end();
  });
}

export async function startEnv(): Promise<BenchEnv> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-bench-'));
  const pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'bench' });
  const seed = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)).toString('hex');
  const block = patternBlock(seed);
  const target = await startScript('target.js', [seed]);
  const targetPort = Number(target.info['port']);
  const targetAddr = `127.0.0.1:${targetPort}`;
  const relay = await startScript('relay.js', [String(targetPort)]);
  const { server, agent, uds } = await startServerAndAgent(dir, pki);
  const udsTunnel = await createTunnel({ uds });
  const tcpTunnel = await createTunnel({
    address: `127.0.0.1:${String(server.info['frontendPort'])}`,
    tls: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), servername: 'localhost' },
  });
  const relayPort = Number(relay.info['port']);
  return {
    dir,
    pki,
    block,
    seed,
    target,
    relay,
    server,
    agent,
    uds,
    targetAddr,
    udsTunnel,
    tcpTunnel,
    baseline: () =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: relayPort }, () => resolve(s));
        s.setNoDelay(true);
        s.once('error', reject);
      }),
    viaUds: () => udsTunnel.dial(targetAddr),
    viaTcp: () => tcpTunnel.dial(targetAddr),
    viaConnect: () => connectVia(uds, targetAddr),
    async close() {
      await udsTunnel.close();
      await tcpTunnel.close();
      for (const p of [agent, server, relay, target]) await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
