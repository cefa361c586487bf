/**
 * Test peers for pull mode: an HTTP echo service standing for a service in
 * the server's network (e.g. the platform's "norm"), a dev PKI with one agent
 * certificate per cluster (`CN=tunnel-agent:<cluster>`), HTTP requests
 * through a port forward or the agent's CONNECT proxy, and a raw Pull stream
 * to talk to the server directly (to show it is the authority, whatever an
 * agent pre-checks).
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { DevCA, type DevPkiFiles, writeDevPki } from '../../src/certs/dev-ca.js';
import { GrpcPacketStream } from '../../src/transport/packet-stream.js';
import { PULL_PATH } from '../../src/transport/pull-service.js';
import { MD } from '../../src/transport/services.js';

/** An HTTP service that answers POST with the body it got, and its SHA-256 in `x-sha256`. */
export class HttpEcho {
  /** Requests answered. */
  served = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HttpEcho> {
    let self: HttpEcho | undefined;
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        self!.served++;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sha256': sha256(body), 'x-path': req.url ?? '' });
        res.end(body);
      });
    });
    server.on('connection', (s: net.Socket) => {
      self?.sockets.add(s);
      s.once('close', () => self?.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new HttpEcho(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  /** Open TCP connections to the service right now. */
  get connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What one echo request saw: status, the body back, the service's hash of what it received. */
export interface EchoResult {
  status: number;
  body: Buffer;
  receivedHash: string;
}

/** POSTs `body` over `socket` (or a new connection to 127.0.0.1:port) and reads the answer. */
export function postEcho(target: { port: number } | { socket: Duplex }, body: Buffer, pathName = '/echo'): Promise<EchoResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: 'POST',
        host: '127.0.0.1',
        path: pathName,
        headers: { 'content-length': body.length, connection: 'close' },
        ...('port' in target ? { port: target.port, agent: false } : { createConnection: () => target.socket as net.Socket }),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), receivedHash: String(res.headers['x-sha256'] ?? '') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The answer to a CONNECT at the agent's proxy: the status line's code, and the socket when 200. */
export interface ConnectOutcome {
  status: number;
  /** The response body (error text) when not 200. */
  text: string;
  socket?: Duplex;
}

/** Sends `CONNECT target` to the proxy on 127.0.0.1:port. */
export function connectThrough(proxyPort: number, target: string): Promise<ConnectOutcome> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method: 'CONNECT', host: '127.0.0.1', port: proxyPort, path: target, agent: false });
    req.on('connect', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve({ status: 200, text: '', socket });
        return;
      }
      const parts: Buffer[] = [head];
      socket.on('data', (c: Buffer) => parts.push(c));
      socket.on('close', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
      socket.on('error', () => undefined);
    });
    req.on('response', (res: http.IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Random bytes of a size, for echo checks. */
export const payload = (n: number): Buffer => randomBytes(n);

/** A dev PKI with agent certificates for several clusters (`CN=tunnel-agent:<cluster>`). */
export interface PullPki extends DevPkiFiles {
  /** Client certificate and key file of each cluster's agent. */
  agents: Record<string, { cert: string; key: string }>;
}

/** Writes the PKI into dir: writeDevPki's files plus one agent certificate per cluster. */
export async function writePullPki(dir: string, clusters: string[]): Promise<PullPki> {
  const ca = await DevCA.create();
  const files = await writeDevPki(dir, { ca, agentID: `tunnel-agent:${clusters[0]}` });
  const agents: PullPki['agents'] = {};
  for (const c of clusters) {
    const pair = await ca.issue({ commonName: `tunnel-agent:${c}`, organization: ['tunnel.tkestack.io:agents'], usage: 'client' });
    const cert = path.join(dir, `agent-${c}.crt`);
    const key = path.join(dir, `agent-${c}.key`);
    writeFileSync(cert, pair.cert);
    writeFileSync(key, pair.key, { mode: 0o600 });
    agents[c] = { cert, key };
  }
  return { ...files, agents };
}

/** A raw Pull stream on the server's agent port, as an agent with this certificate and agent id would open it. */
export class RawPull {
  readonly client: grpc.Client;
  readonly stream: GrpcPacketStream;
  /** The final status of the call. */
  readonly status: Promise<grpc.StatusObject>;

  constructor(agentPort: number, tls: { ca: string; cert?: string; key?: string }, agentID: string | undefined) {
    this.client = new grpc.Client(
      `localhost:${agentPort}`,
      grpc.credentials.createSsl(readFileSync(tls.ca), tls.key ? readFileSync(tls.key) : null, tls.cert ? readFileSync(tls.cert) : null),
    );
    const md = new grpc.Metadata();
    if (agentID !== undefined) md.set(MD.agentID, agentID);
    md.set(MD.agentIdentifiers, '');
    const id = (b: Buffer): Buffer => b;
    const call = this.client.makeBidiStreamRequest(PULL_PATH, id, id, md);
    this.status = new Promise((r) => call.once('status', r));
    this.stream = new GrpcPacketStream(call, 'client', 'raw-pull');
  }

  close(): void {
    this.stream.close({ code: grpc.status.CANCELLED, message: 'test done' });
    this.client.close();
  }
}
