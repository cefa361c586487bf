/**
 * The server's side of flow-control negotiation (proto/tunnel/v1/flow.proto):
 * a Connect call that announces `credits-v1` gets a FlowLink and a token in
 * its response headers; the agent's FlowService.Credits call names that token
 * and carries the grants both ways. A Connect stream whose Credits stream
 * does not arrive in time, or ends, is closed (the agent reconnects).
 *
 * When the agent also announces `tunnel-flow-downlink`, it may open
 * FlowService.Downlink with the same token on a connection of its own: the
 * server then sends the DATA and CLOSE_REQ of connections established after
 * it arrived there (Backend.attachDownlink). It is optional (behind a load
 * balancer it may reach another replica, which answers NOT_FOUND); once
 * attached, its end closes the Connect stream like the Credits stream's.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { FlowLink } from '../transport/flow-control.js';
import { decodeCredits, FLOW_MD, FLOW_SCHEME, FlowWireError, parseWindow } from '../transport/flow-wire.js';
import { GrpcPacketStream, type PacketStream, serverMessages } from '../transport/packet-stream.js';
import type { Backend } from './backend.js';
import type { Clock, TimerHandle } from './clock.js';

/** What FlowStreams needs. */
export interface FlowStreamsDeps {
  logger: Logger;
  metrics: ServerMetrics;
  clock: Clock;
  /** Our receive window per connection (limits.flowWindowBytes); 0 turns flow control off. */
  windowBytes: number;
  /** Largest a connection's receive window may grow to (limits.flowMaxWindowBytes; default windowBytes). */
  maxWindowBytes?: number;
  /** How long a negotiated Connect stream waits for its Credits stream. */
  attachTimeoutMs: number;
  /** Offer the Downlink stream to agents that announce it (default true). */
  downlink?: boolean;
}

/** A negotiated Connect stream. */
export interface NegotiatedFlow {
  link: FlowLink;
  /** Response headers to add to Connect's. */
  headers: Record<string, string>;
  /** The Connect stream is gone: forget the token, end the Credits and Downlink streams. Idempotent. */
  release(): void;
  /** The Connect stream's backend: it gets the Downlink stream once (or as soon as) it is attached. */
  bindBackend(b: Backend): void;
}

interface Entry {
  link: FlowLink;
  /** Closes the Connect stream with this reason. */
  fail(why: string): void;
  timer: TimerHandle | undefined;
  call: grpc.ServerDuplexStream<Buffer, Buffer> | undefined;
  /** The agent announced Downlink and we offered it. */
  downlinkOffered: boolean;
  downlink: PacketStream | undefined;
  backend: Backend | undefined;
  /** SHA-256 fingerprint of the client certificate Connect came with: the Downlink must come with the same. */
  peerCertificate?: string;
}

/** Flow-controlled Connect streams of one server, by token. */
export class FlowStreams {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: FlowStreamsDeps) {}

  /** Negotiated Connect streams (waiting for or holding their Credits stream). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Answers a Connect call's announcement: undefined when the agent did not
   * ask (an upstream agent) or flow control is off; else the link and headers.
   * `fail` must close the Connect stream.
   */
  negotiate(md: grpc.Metadata, fail: (why: string) => void, peerCertificate?: string): NegotiatedFlow | undefined {
    if (this.deps.windowBytes <= 0) return undefined;
    const schemes = md.get(FLOW_MD.control).flatMap((v) => String(v).split(',').map((x) => x.trim()));
    if (!schemes.includes(FLOW_SCHEME)) return undefined;
    const peerWindow = parseWindow(md.get(FLOW_MD.window).map(String)[0]);
    if (peerWindow === undefined) {
      this.deps.metrics.badInput.inc({ source: 'agent', reason: 'flow_window' });
      this.deps.logger.warn('agent announced flow control with an unusable window; running without it', {
        window: md.get(FLOW_MD.window).map(String).join(','),
      });
      return undefined;
    }
    const token = randomBytes(16).toString('hex');
    const link = new FlowLink({
      sendWindow: peerWindow,
      receiveWindow: this.deps.windowBytes,
      maxReceiveWindow: this.deps.maxWindowBytes,
    });
    const downlinkOffered =
      this.deps.downlink !== false && md.get(FLOW_MD.downlink).some((v) => String(v).trim() === '1');
    const entry: Entry = {
      link,
      fail,
      timer: undefined,
      call: undefined,
      downlinkOffered,
      downlink: undefined,
      backend: undefined,
      ...(peerCertificate ? { peerCertificate } : {}),
    };
    entry.timer = this.deps.clock.setTimeout(() => {
      entry.timer = undefined;
      fail(`no ${FLOW_MD.stream} Credits stream within ${this.deps.attachTimeoutMs} ms`);
    }, this.deps.attachTimeoutMs);
    this.entries.set(token, entry);
    return {
      link,
      headers: {
        [FLOW_MD.control]: FLOW_SCHEME,
        [FLOW_MD.window]: String(this.deps.windowBytes),
        [FLOW_MD.stream]: token,
        ...(downlinkOffered ? { [FLOW_MD.downlink]: '1' } : {}),
      },
      release: () => this.release(token, entry),
      bindBackend: (b) => {
        entry.backend = b;
        if (entry.downlink) b.attachDownlink(entry.downlink);
      },
    };
  }

  /** The grpc-js handler of FlowService.Downlink. */
  downlinkHandler(): grpc.handleBidiStreamingCall<Buffer, Buffer> {
    return (call) => this.attachDownlink(call);
  }

  private attachDownlink(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    call.on('error', () => undefined);
    const token = call.metadata.get(FLOW_MD.stream).map(String)[0] ?? '';
    const entry = this.entries.get(token);
    if (!entry || !entry.downlinkOffered || entry.downlink) {
      // Not an attack by itself: behind a load balancer the agent's second connection may reach another replica.
      this.deps.logger.debug('Downlink stream for an unknown Connect stream refused', { peer: safePeer(call) });
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `no Connect stream here waits for a Downlink with this ${FLOW_MD.stream} token` });
      return;
    }
    const cert = peerFingerprint(call);
    if (entry.peerCertificate !== undefined && cert !== entry.peerCertificate) {
      this.deps.metrics.badInput.inc({ source: 'agent', reason: 'flow_stream' });
      this.deps.logger.warn('Downlink stream refused: not the client certificate of its Connect stream', { peer: safePeer(call) });
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'the Downlink stream must come with the client certificate of its Connect stream' });
      return;
    }
    const stream = new GrpcPacketStream(call, 'server');
    entry.downlink = stream;
    call.sendMetadata(new grpc.Metadata());
    entry.backend?.attachDownlink(stream);
    void this.watchDownlink(stream, entry);
  }

  /** The agent sends nothing on Downlink: any message breaks the protocol; its end ends Connect. */
  private async watchDownlink(stream: PacketStream, entry: Entry): Promise<void> {
    let why = 'the Downlink stream ended';
    try {
      for await (const p of stream) {
        this.deps.metrics.badInput.inc({ source: 'agent', reason: 'flow_stream' });
        why = `the agent sent a packet (type ${p.type}) on its Downlink stream`;
        stream.close({ code: grpc.status.INVALID_ARGUMENT, message: 'the Downlink stream carries no messages from the agent' });
        break;
      }
    } catch (e) {
      why = `the Downlink stream failed: ${(e as Error).message}`;
    }
    if (!entry.link.closed) entry.fail(why);
  }

  /** The grpc-js handler of FlowService.Credits. */
  creditsHandler(): grpc.handleBidiStreamingCall<Buffer, Buffer> {
    return (call) => this.attach(call);
  }

  /** Ends every Credits stream (shutdown). */
  closeAll(): void {
    for (const [token, e] of [...this.entries]) this.release(token, e);
  }

  private attach(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    call.on('error', () => undefined);
    const token = call.metadata.get(FLOW_MD.stream).map(String)[0] ?? '';
    const entry = this.entries.get(token);
    if (!entry || entry.call) {
      this.deps.metrics.badInput.inc({ source: 'agent', reason: 'flow_stream' });
      this.deps.logger.warn('Credits stream for an unknown Connect stream refused', { peer: safePeer(call) });
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `no Connect stream waits for this ${FLOW_MD.stream} token` });
      return;
    }
    entry.call = call;
    if (entry.timer !== undefined) this.deps.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.link.attach((batch) => {
      if (!call.writableEnded && !call.destroyed) call.write(batch);
    });
    void this.readGrants(call, entry);
  }

  private async readGrants(call: grpc.ServerDuplexStream<Buffer, Buffer>, entry: Entry): Promise<void> {
    let why = 'the Credits stream ended';
    try {
      for await (const batch of serverMessages(call as unknown as Duplex)) entry.link.onCredits(decodeCredits(batch));
    } catch (e) {
      why = `the Credits stream failed: ${(e as Error).message}`;
      if (e instanceof FlowWireError) {
        this.deps.metrics.badInput.inc({ source: 'agent', reason: e.code });
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: e.message });
      }
    }
    if (!entry.link.closed) entry.fail(why);
  }

  private release(token: string, entry: Entry): void {
    if (this.entries.get(token) !== entry) return;
    this.entries.delete(token);
    if (entry.timer !== undefined) this.deps.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.link.close();
    const call = entry.call;
    if (call && !call.writableEnded && !call.destroyed) call.end();
    entry.downlink?.close();
  }
}

function safePeer(call: grpc.ServerDuplexStream<Buffer, Buffer>): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

/** SHA-256 fingerprint of a call's TLS client certificate, if it has one. */
function peerFingerprint(call: Pick<grpc.ServerDuplexStream<Buffer, Buffer>, 'getAuthContext'>): string | undefined {
  try {
    return call.getAuthContext()?.sslPeerCertificate?.fingerprint256 || undefined;
  } catch {
    return undefined;
  }
}
