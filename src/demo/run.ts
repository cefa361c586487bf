/**
 * `npm run demo`: the tunnel end to end on one machine, no Kubernetes.
 *
 * 1. generates a dev CA and certificates in a temp dir;
 * 2. starts an HTTP "target" on 127.0.0.1 (standing in for a service inside a managed cluster);
 * 3. starts `tunnel --mode=server` (frontend on a Unix socket and on mTLS TCP, agent port with mTLS)
 *    and `tunnel --mode=agent` as child processes of the real CLI;
 * 4. waits for the server to be ready (an agent connected);
 * 5. fetches the target through the tunnel with the TypeScript client, over the Unix socket and
 *    over mTLS TCP, and over HTTP CONNECT with Node's http client;
 * 6. prints what happened, stops everything and exits 0 (1 on any failure).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevPki } from '../certs/dev-ca.js';
import { createHttpAgent, createTunnel } from '../client/index.js';
import { NODE_FLAGS } from '../cli/node-flags.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'main.js');
const say = (msg: string): void => console.log(`[demo] ${msg}`);

interface Child {
  name: string;
  child: ChildProcess;
  /** Resolves when the child logs a line whose message starts with `prefix`. */
  logged(prefix: string): Promise<void>;
}

interface Started extends Child {
  listening: Record<string, unknown>;
}

/** Every child spawned, so that any way out of the demo stops them. */
const children: Child[] = [];
/** Set once the demo is stopping on a signal: nothing new is started. */
let stopping = false;

/** Spawns the CLI and resolves with its `listening` log line. */
function startRole(name: string, args: string[]): Promise<Started> {
  if (stopping) return Promise.reject(new Error('the demo is stopping'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, cli, ...args], {
      env: { ...process.env, TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let buf = '';
    const waiters: { prefix: string; resolve: () => void }[] = [];
    const logged = (prefix: string): Promise<void> => new Promise((r) => waiters.push({ prefix, resolve: r }));
    children.push({ name, child, logged });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not report listening within 15 s`));
    }, 15_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let rec: Record<string, unknown> | undefined;
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          rec = undefined;
        }
        const message = typeof rec?.['message'] === 'string' ? rec['message'] : '';
        for (const w of waiters.filter((x) => message.startsWith(x.prefix))) w.resolve();
        if (message === 'listening') {
          clearTimeout(timer);
          resolve({ name, child, listening: rec!, logged });
        } else if (rec && (rec['level'] === 'error' || rec['level'] === 'warn')) {
          say(`${name}: ${line}`);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early with code ${code}`));
    });
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a child the way an operator would: SIGTERM stops the server; the
 * agent drains on the first and stops on the second. Two signals sent back
 * to back can reach the process as one, so the second waits until the agent
 * has logged that it is draining. SIGKILL after 10 s if it is still there.
 */
async function stopRole(s: Child): Promise<void> {
  const c = s.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  if (s.name === 'agent') {
    await Promise.race([s.logged('draining'), exited, delay(2_000)]);
    c.kill('SIGTERM');
  }
  const kill = setTimeout(() => {
    say(`${s.name} did not stop within 10 s of SIGTERM; killing it`);
    c.kill('SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(kill);
}

/** Stops every child, the agent before the server. */
async function stopAll(): Promise<void> {
  for (const c of [...children].reverse()) await stopRole(c);
}

/**
 * Ctrl-C or a SIGTERM to the demo stops its server and agent too (they
 * would outlive it otherwise), removes its folder and exits 130.
 */
function stopChildrenOnSignal(dir: string): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      stopping = true;
      say(`${sig}: stopping the server and agent`);
      void stopAll().finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
}

async function waitReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`server not ready after ${timeoutMs} ms (no agent connected)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function get(agent: http.Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

function connectThrough(udsPath: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: udsPath, method: 'CONNECT', path: target });
    req.on('connect', (res, socket) => {
      socket.write(`GET /via-connect HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
      let body = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (body += c));
      socket.on('end', () => resolve(`${res.statusCode} ${res.statusMessage} → ${body.split('\r\n')[0]} ${body.split('\r\n\r\n')[1] ?? ''}`));
      socket.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-demo-'));
  stopChildrenOnSignal(dir);
  const target = http.createServer((req, res) => {
    res.end(`hello from the managed cluster (you asked for ${req.url})`);
  });
  try {
    say(`generating a dev CA and certificates in ${dir}`);
    const pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'demo-cluster' });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetAddr = `127.0.0.1:${(target.address() as AddressInfo).port}`;
    say(`target HTTP service listening on ${targetAddr}`);

    const uds = path.join(dir, 'konnectivity-server.socket');
    const server = await startRole('server', [
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
      // The agent's certificate (CN=demo-cluster) may announce only agent id and host= demo-cluster.
      '--bind-agent-id-to-cn',
      '--health-port=0',
      '--admin-port=0',
    ]);
    const l = server.listening;
    say(`server up: frontend on ${uds} and 127.0.0.1:${String(l['frontendPort'])}, agents on :${String(l['agentPort'])}`);

    await startRole('agent', [
      '--mode=agent',
      '--agent-id=demo-cluster',
      '--agent-identifiers=host=demo-cluster',
      '--proxy-server-host=127.0.0.1',
      `--proxy-server-port=${String(l['agentPort'])}`,
      `--ca-cert=${pki.caCert}`,
      `--agent-cert=${pki.agentCert}`,
      `--agent-key=${pki.agentKey}`,
      '--health-server-port=0',
      '--admin-server-port=0',
    ]);
    await waitReady(Number(l['healthPort']), 15_000);
    say('agent "demo-cluster" connected; server is ready');

    const viaUds = await createTunnel({ uds });
    say(`over the Unix socket (gRPC):  GET / → ${await get(createHttpAgent(viaUds), `http://${targetAddr}/`)}`);
    await viaUds.close();

    const viaTcp = await createTunnel({
      address: `127.0.0.1:${String(l['frontendPort'])}`,
      tls: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), servername: 'localhost' },
    });
    say(`over mTLS TCP (gRPC):         GET /tcp → ${await get(createHttpAgent(viaTcp), `http://${targetAddr}/tcp`)}`);
    await viaTcp.close();

    say(`over HTTP CONNECT (UDS):      ${await connectThrough(uds, targetAddr)}`);
    say('all fetches went through server and agent; stopping');
  } finally {
    await stopAll();
    target.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (stopping) return; // a signal stops the demo: its handler exits once the children are gone
    console.error(`[demo] FAILED: ${(err as Error).message}`);
    process.exit(1);
  },
);
