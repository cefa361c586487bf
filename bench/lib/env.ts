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
import { createTunnel, type Tunnel, type TunnelOptions } from '../../src/client/index.js';
import { patternBlock } from './pattern.js';
import { type Proc, startCli, startScript } from './procs.js';

export type Connector = () => Promise<Duplex>;

/** A connection plus what it takes to give it back (destroy it; for a single-use tunnel, also close the tunnel). */
export interface Lease {
  sock: Duplex;
  release(): Promise<void>;
}
export type Dialer = () => Promise<Lease>;

/** A dialer whose connections are just destroyed when done. */
export function leased(connect: Connector): Dialer {
  return async () => {
    const sock = await connect();
    return {
      sock,
      release: () => {
        sock.destroy();
        return Promise.resolve();
      },
    };
  };
}

/**
 * Like upstream's konnectivity client in kube-apiserver (one
 * CreateSingleUseGrpcTunnel per dial): a new gRPC channel with its own
 * connection (a local subchannel pool, so grpc-js does not share the
 * connection of another channel to the same target), one Proxy stream, and
 * the tunnel closed after the connection.
 */
export function singleUse(opts: TunnelOptions, targetAddr: string): Dialer {
  return async () => {
    const tunnel = await createTunnel({ ...opts, channelOptions: { ...opts.channelOptions, 'grpc.use_local_subchannel_pool': 1 } });
    let sock: Duplex;
    try {
      sock = await tunnel.dial(targetAddr);
    } catch (e) {
      await tunnel.close();
      throw e;
    }
    return {
      sock,
      release: async () => {
        sock.destroy();
        await tunnel.close();
      },
    };
  };
}

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
  targetPort: number;
  /** Options of a tunnel over the Unix socket frontend. */
  udsOptions: TunnelOptions;
  /** Options of a tunnel over the mTLS TCP frontend. */
  tcpOptions: TunnelOptions;
  /** Tunnel over the Unix socket frontend, one gRPC channel reused for many dials. */
  udsTunnel: Tunnel;
  /** Tunnel over the mTLS TCP frontend, one gRPC channel reused for many dials. */
  tcpTunnel: Tunnel;
  /** Plain TCP to the Node relay. */
  baseline: Connector;
  /** A Proxy stream on the shared UDS channel. */
  viaUds: Connector;
  /** A Proxy stream on the shared mTLS TCP channel. */
  viaTcp: Connector;
  /** HTTP CONNECT over the Unix socket, one connection per dial. */
  viaConnect: Connector;
  /** A new single-use tunnel (channel, connection, stream) over the Unix socket per dial. */
  singleUseUds: Dialer;
  /** A new single-use tunnel over mTLS TCP per dial. */
  singleUseTcp: Dialer;
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
  let agent: Proc | undefined;
  try {
    agent = await startCli(
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
  } catch (e) {
    await agent?.stop();
    await server.stop();
    throw e;
  }
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
  const started: Proc[] = [];
  const tunnels: Tunnel[] = [];
  let target: Proc, relay: Proc, server: Proc, agent: Proc, uds: string;
  let udsOptions: TunnelOptions, tcpOptions: TunnelOptions, udsTunnel: Tunnel, tcpTunnel: Tunnel;
  try {
    target = await startScript('target.js', [seed]);
    started.push(target);
    relay = await startScript('relay.js', [String(target.info['port'])]);
    started.push(relay);
    ({ server, agent, uds } = await startServerAndAgent(dir, pki));
    started.push(agent, server);
    udsOptions = { uds };
    tcpOptions = {
      address: `127.0.0.1:${String(server.info['frontendPort'])}`,
      tls: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), servername: 'localhost' },
    };
    udsTunnel = await createTunnel(udsOptions);
    tunnels.push(udsTunnel);
    tcpTunnel = await createTunnel(tcpOptions);
  } catch (e) {
    // Started children must not outlive a failed start.
    for (const t of tunnels) await t.close();
    for (const p of started.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const targetPort = Number(target.info['port']);
  const targetAddr = `127.0.0.1:${targetPort}`;
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
    targetPort,
    udsOptions,
    tcpOptions,
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
    singleUseUds: singleUse(udsOptions, targetAddr),
    singleUseTcp: singleUse(tcpOptions, targetAddr),
    async close() {
      await udsTunnel.close();
      await tcpTunnel.close();
      for (const p of [agent, server, relay, target]) await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
