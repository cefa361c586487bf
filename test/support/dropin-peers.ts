/**
 * Peers for the drop-in tests (test/integration/dropin-*.test.ts): an HTTP
 * target that upgrades connections the way kubelet's exec/attach/
 * port-forward endpoints do, a TCP/Unix forwarder that counts the bytes it
 * passes (to see keepalive pings on an idle link), HTTP CONNECT through the
 * frontend with Node's own http.request, curl, and a Prometheus text parser.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { DevPkiFiles } from '../../src/certs/dev-ca.js';

/** Where a frontend (or anything else) listens: a Unix socket or a port on 127.0.0.1. */
export type Endpoint = { path: string } | { port: number };

/**
 * An HTTP/1.1 server on 127.0.0.1 that answers `GET /` with a fixed body and
 * upgrades requests carrying `Upgrade: tunnel-echo` (101 Switching
 * Protocols), then echoes every byte. The test can also write from the
 * target's side of an upgraded connection.
 */
export class UpgradeTarget {
  /** Upgraded sockets, in the order they were upgraded. */
  readonly upgraded: net.Socket[] = [];
  private readonly waiters: (() => void)[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static readonly BODY = 'hello from the managed cluster\n';

  static async start(): Promise<UpgradeTarget> {
    let self: UpgradeTarget | undefined;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(UpgradeTarget.BODY) });
      res.end(UpgradeTarget.BODY);
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (req.headers.upgrade !== 'tunnel-echo') {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        return;
      }
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: tunnel-echo\r\nConnection: Upgrade\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
      self!.upgraded.push(socket);
      for (const w of self!.waiters.splice(0)) w();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new UpgradeTarget(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once `n` connections were upgraded. */
  async upgradedCount(n: number): Promise<void> {
    while (this.upgraded.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  async close(): Promise<void> {
    for (const s of this.upgraded) s.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/**
 * Sends an HTTP/1.1 upgrade request for `tunnel-echo` over an already open
 * byte stream (a tunnel) and waits for the 101; bytes after the response
 * head are handed back.
 */
export async function upgradeOver(sock: Duplex, host: string): Promise<{ status: string; rest: Buffer }> {
  const head = await new Promise<{ text: string; rest: Buffer }>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      resolve({ text: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
    };
    const onClose = (): void => reject(new Error(`closed before the upgrade answer: ${JSON.stringify(buf.toString('latin1'))}`));
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(`GET /exec HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: tunnel-echo\r\n\r\n`);
  });
  return { status: head.text.split('\r\n')[0]!, rest: head.rest };
}

/** Resolves with the next `n` bytes read from `sock` (plus any already given in `first`). */
export function readBytes(sock: Duplex, n: number, first: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = first;
    if (buf.length >= n) {
      resolve(buf);
      return;
    }
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) {
        done();
        resolve(buf);
      }
    };
    const onClose = (): void => {
      done();
      reject(new Error(`closed after ${buf.length} of ${n} bytes`));
    };
    const done = (): void => {
      sock.off('data', onData);
      sock.off('close', onClose);
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.resume();
  });
}

/** Everything `sock` delivers until it closes. */
export function readAll(sock: Duplex): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.once('close', () => resolve(out));
    sock.resume();
  });
}

/** A raw connection to a frontend: plain on a Unix socket, mTLS with the frontend client certificate on TCP. */
export function rawConnect(fe: Endpoint, pki: DevPkiFiles): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock =
      'path' in fe
        ? net.connect(fe.path)
        : tls.connect({
            host: '127.0.0.1',
            port: fe.port,
            ca: readFileSync(pki.caCert),
            cert: readFileSync(pki.clientCert),
            key: readFileSync(pki.clientKey),
          });
    sock.once('path' in fe ? 'connect' : 'secureConnect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/**
 * HTTP CONNECT with Node's own http.request over a frontend (kube-apiserver
 * sends `Host: 127.0.0.1`; the server must dial the request-target). Node
 * hands over the socket for every status; after an error status, the body
 * is what the socket delivers (`head` plus readAll(socket)).
 */
export function httpConnect(fe: Endpoint, pki: DevPkiFiles, target: string): Promise<{ status: number; socket: net.Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const common: http.RequestOptions = { method: 'CONNECT', path: target, headers: { host: '127.0.0.1' } };
    const opts: http.RequestOptions =
      'path' in fe
        ? { ...common, socketPath: fe.path, agent: false }
        : {
            ...common,
            createConnection: () =>
              tls.connect({
                host: '127.0.0.1',
                port: fe.port,
                ca: readFileSync(pki.caCert),
                cert: readFileSync(pki.clientCert),
                key: readFileSync(pki.clientKey),
              }),
          };
    const req = http.request(opts);
    req.once('connect', (res, socket, head) => {
      socket.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, socket, head });
    });
    req.once('error', reject);
    req.end();
  });
}

/** The outcome of one curl run. */
export interface CurlResult {
  /** curl's exit code (0 = success). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl with these arguments (never through a shell). */
export function curl(args: string[], timeoutMs = 30_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * curl arguments that use the frontend's mTLS port as an HTTPS proxy
 * (`curl -p -x https://127.0.0.1:PORT`), with the frontend client
 * certificate unless `clientCert` is false.
 */
export function curlProxyArgs(port: number, pki: DevPkiFiles, clientCert = true): string[] {
  const args = ['--silent', '--show-error', '--proxytunnel', '--proxy', `https://127.0.0.1:${port}`, '--proxy-cacert', pki.caCert];
  if (clientCert) args.push('--proxy-cert', pki.clientCert, '--proxy-key', pki.clientKey);
  return args;
}

/**
 * A forwarder from a Unix socket or a 127.0.0.1 port to another, counting
 * the bytes it passes in each direction (keepalive pings on an idle
 * connection show up as bytes).
 */
export class CountingForwarder {
  /** Bytes from the connecting side to the target, and back. */
  up = 0;
  down = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    /** Where clients connect. */
    readonly listen: Endpoint,
    private readonly target: Endpoint,
  ) {}

  static async start(listenOn: Endpoint, target: Endpoint): Promise<CountingForwarder> {
    let self: CountingForwarder | undefined;
    const server = net.createServer((s) => self!.forward(s));
    await new Promise<void>((r) => ('path' in listenOn ? server.listen(listenOn.path, r) : server.listen(listenOn.port, '127.0.0.1', r)));
    const bound: Endpoint = 'path' in listenOn ? listenOn : { port: (server.address() as net.AddressInfo).port };
    self = new CountingForwarder(server, bound, target);
    return self;
  }

  /** Closes every forwarded connection (both sides see a reset/close); keeps listening. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise((r) => this.server.close(r));
  }

  private forward(client: net.Socket): void {
    const t = this.target;
    const upstream = 'path' in t ? net.connect(t.path) : net.connect(t.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => (this.up += d.length));
    upstream.on('data', (d: Buffer) => (this.down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** One metric family of a Prometheus text exposition. */
export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** Parses the Prometheus text format (0.0.4) into families by name. */
export function parseMetrics(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  const owner = (sample: string): MetricFamily | undefined => {
    if (families.has(sample)) return families.get(sample);
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix) && families.has(sample.slice(0, -suffix.length))) return families.get(sample.slice(0, -suffix.length));
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'TYPE') f.type = meta[3]!;
      else f.help = meta[3]!;
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]!] = kv[2]!;
    owner(m[1]!)?.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return families;
}

/** The label names a family's samples carry (histogram `le` left out), sorted and deduplicated. */
export function labelNames(f: MetricFamily): string[] {
  const names = new Set<string>();
  for (const s of f.samples) for (const k of Object.keys(s.labels)) if (k !== 'le') names.add(k);
  return [...names].sort();
}

/** Sum of a family's sample values (its plain samples, or a histogram's _count) whose labels include `labels`. */
export function sampleSum(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const f = families.get(name);
  if (!f) return 0;
  const wanted = f.type === 'histogram' ? `${name}_count` : name;
  return f.samples
    .filter((s) => s.name === wanted && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
