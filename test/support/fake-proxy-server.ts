/**
 * A fake konnectivity proxy server for client tests: a grpc-js Server with
 * ProxyService that plays server and agent at once. On DIAL_REQ it dials
 * the real 127.0.0.1 target and relays bytes (with backpressure both ways,
 * and counting when its own writes to the client were pushed back), or
 * follows a scripted behaviour: a DIAL_RSP error, DIAL_CLS, no answer, a
 * CLOSE_RSP with an error, or anything a test writes.
 * Serves on a Unix socket (plaintext) and/or 127.0.0.1:0 with mTLS.
 */
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  closeRsp,
  data,
  dialCls,
  type DialRequest,
  dialRsp,
  dialRspError,
  type Packet,
  PacketType,
} from '../../src/protocol/index.js';
import { GrpcPacketStream } from '../../src/transport/packet-stream.js';
import { proxyServiceDefinition } from '../../src/transport/services.js';

/** What the fake does with a DIAL_REQ. */
export type FakeBehaviour =
  /**
   * Dial the target for real and relay bytes until either side closes; `to`
   * dials another address instead (as an agent maps `<cluster-name>:443`).
   */
  | { kind: 'relay'; to?: string }
  /** DIAL_RSP with this error text. */
  | { kind: 'error'; text: string }
  /** DIAL_CLS for the dial (as a server would when its agent gave up). */
  | { kind: 'dialClose' }
  /** Never answer. */
  | { kind: 'silent' }
  /** DIAL_RSP success, optionally some DATA, then CLOSE_RSP with this error text. */
  | { kind: 'closeWithError'; text: string; before?: Buffer }
  /**
   * Anything else: `run` gets the request and a way to send packets on this
   * stream; later packets of the stream go to `onPacket` (no automatic CLOSE_RSP).
   */
  | {
      kind: 'custom';
      run: (req: DialRequest, send: (p: Packet) => boolean) => void;
      onPacket?: (p: Packet, send: (p: Packet) => boolean) => void;
    };

/** Options of FakeProxyServer.start(). */
export interface FakeProxyOptions {
  /** Serve on this Unix socket path. */
  uds?: string;
  /** Serve mTLS on 127.0.0.1:0 with these PEMs (client certificates required). */
  tls?: { ca: string; cert: string; key: string };
  /** Decides per DIAL_REQ; default relay. */
  behaviour?: (req: DialRequest) => FakeBehaviour;
}

/** What the fake saw on one Proxy stream. */
export interface StreamRecord {
  /** Packets from the client, in order. */
  packets: Packet[];
  /** True once the client ended or cancelled the stream. */
  ended: boolean;
}

const DIAL_RSP_TEXT_REFUSED = (address: string): string => `dial tcp ${address}: connect: connection refused`;

/** The fake server. Always stop() it. */
export class FakeProxyServer extends EventEmitter {
  /** Every stream seen, in arrival order. */
  readonly streams: StreamRecord[] = [];
  /** Times a write of DATA to a client returned false (the client pushed back). */
  writesBackpressured = 0;
  /** Bytes relayed from targets to clients. */
  bytesToClients = 0;
  /** TCP port of the mTLS listener, when started with `tls`. */
  port = 0;
  private readonly server = new grpc.Server();
  private readonly sockets = new Set<net.Socket>();
  private nextConnectID = 0n;

  private constructor(private readonly opts: FakeProxyOptions) {
    super();
  }

  /** Starts listening as asked. */
  static async start(opts: FakeProxyOptions): Promise<FakeProxyServer> {
    const f = new FakeProxyServer(opts);
    f.server.addService(proxyServiceDefinition, {
      Proxy: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void f.serve(call),
    });
    const bind = (addr: string, creds: grpc.ServerCredentials): Promise<number> =>
      new Promise((resolve, reject) => f.server.bindAsync(addr, creds, (err, port) => (err ? reject(err) : resolve(port))));
    if (opts.uds) await bind(`unix:${opts.uds}`, grpc.ServerCredentials.createInsecure());
    if (opts.tls) {
      const creds = grpc.ServerCredentials.createSsl(
        Buffer.from(opts.tls.ca),
        [{ cert_chain: Buffer.from(opts.tls.cert), private_key: Buffer.from(opts.tls.key) }],
        true,
      );
      f.port = await bind('127.0.0.1:0', creds);
    }
    return f;
  }

  /** Every packet of `type` from clients, over all streams. */
  received<T extends PacketType>(type: T): Extract<Packet, { type: T }>[] {
    return this.streams.flatMap((s) => s.packets.filter((p): p is Extract<Packet, { type: T }> => p.type === type));
  }

  /** Resolves with the first client packet (seen or to come) matching `pred`; rejects after `ms`. */
  waitFor(pred: (p: Packet) => boolean, ms = 5000): Promise<Packet> {
    const seen = this.streams.flatMap((s) => s.packets).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onPacket = (p: Packet): void => {
        if (!pred(p)) return;
        clearTimeout(timer);
        this.off('packet', onPacket);
        resolve(p);
      };
      const timer = setTimeout(() => {
        this.off('packet', onPacket);
        reject(new Error('fake proxy server: expected packet not seen'));
      }, ms);
      this.on('packet', onPacket);
    });
  }

  /** Resolves once every stream seen so far has been ended by its client. */
  async allStreamsEnded(): Promise<void> {
    while (this.streams.some((s) => !s.ended)) await once(this, 'streamEnded');
  }

  /** Stops serving: cancels streams and closes relay sockets. */
  async stop(): Promise<void> {
    this.server.forceShutdown();
    for (const s of this.sockets) s.destroy();
  }

  private async serve(call: grpc.ServerDuplexStream<Buffer, Buffer>): Promise<void> {
    const stream = new GrpcPacketStream(call, 'server');
    const rec: StreamRecord = { packets: [], ended: false };
    this.streams.push(rec);
    const send = (p: Packet): boolean => stream.write(p);
    let relay: net.Socket | undefined;
    let connectID = 0n;
    let closed = false;
    let custom: Extract<FakeBehaviour, { kind: 'custom' }> | undefined;
    const sendCloseRsp = (error = ''): void => {
      if (closed) return;
      closed = true;
      send(closeRsp(connectID, error));
    };
    try {
      for await (const p of stream) {
        rec.packets.push(p);
        this.emit('packet', p);
        if (p.type === PacketType.DIAL_REQ) {
          const req = p.dialRequest;
          const b = this.opts.behaviour?.(req) ?? { kind: 'relay' };
          switch (b.kind) {
            case 'relay':
              relay = this.relay(req, b.to ?? req.address, stream, (id) => (connectID = id), sendCloseRsp);
              break;
            case 'error':
              send(dialRspError(req.random, b.text));
              break;
            case 'dialClose':
              send(dialCls(req.random));
              break;
            case 'silent':
              break;
            case 'closeWithError':
              connectID = ++this.nextConnectID;
              send(dialRsp(req.random, connectID));
              if (b.before) send(data(connectID, b.before));
              sendCloseRsp(b.text);
              break;
            case 'custom':
              custom = b;
              b.run(req, send);
              break;
          }
        } else if (custom) {
          custom.onPacket?.(p, send);
        } else if (p.type === PacketType.DATA && relay) {
          if (!relay.destroyed && !relay.write(p.data.data)) await Promise.race([once(relay, 'drain'), once(relay, 'close')]);
        } else if (p.type === PacketType.CLOSE_REQ) {
          relay?.destroy();
          sendCloseRsp();
        }
      }
    } catch {
      // cancelled by the client or by stop()
    } finally {
      relay?.destroy();
      rec.ended = true;
      stream.close();
      this.emit('streamEnded');
    }
  }

  /** Dials the target and relays target -> client with backpressure. */
  private relay(
    req: DialRequest,
    target: string,
    stream: GrpcPacketStream,
    setID: (id: bigint) => void,
    sendCloseRsp: (error?: string) => void,
  ): net.Socket {
    const { host, port } = splitAddress(target);
    const send = (p: Packet): boolean => stream.write(p);
    const sock = net.connect({ host, port });
    this.sockets.add(sock);
    let connectID = 0n;
    sock.once('connect', () => {
      connectID = ++this.nextConnectID;
      setID(connectID);
      send(dialRsp(req.random, connectID));
    });
    sock.on('data', (chunk: Buffer) => {
      if (stream.closed) return void sock.destroy();
      this.bytesToClients += chunk.length;
      if (!send(data(connectID, chunk))) {
        this.writesBackpressured++;
        this.emit('backpressure');
        sock.pause();
        // drained() resolves on room or on stream end.
        void stream.drained().then(() => sock.resume());
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (connectID === 0n) {
        const text = err.code === 'ECONNREFUSED' ? DIAL_RSP_TEXT_REFUSED(req.address) : `dial tcp ${req.address}: ${err.message}`;
        send(dialRspError(req.random, text));
      }
    });
    sock.on('close', () => {
      this.sockets.delete(sock);
      if (connectID !== 0n) sendCloseRsp();
    });
    return sock;
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}
