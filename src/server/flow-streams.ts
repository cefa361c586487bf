/**
 * The server's side of flow-control negotiation (proto/tunnel/v1/flow.proto):
 * a Connect call that announces `credits-v1` gets a FlowLink and a token in
 * its response headers; the agent's FlowService.Credits call names that token
 * and carries the grants both ways. A Connect stream whose Credits stream
 * does not arrive in time, or ends, is closed (the agent reconnects).
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { FlowLink } from '../transport/flow-control.js';
import { decodeGrants, FLOW_MD, FLOW_SCHEME, FlowWireError, parseWindow } from '../transport/flow-wire.js';
import { serverMessages } from '../transport/packet-stream.js';
import type { Clock, TimerHandle } from './clock.js';

/** What FlowStreams needs. */
export interface FlowStreamsDeps {
  logger: Logger;
  metrics: ServerMetrics;
  clock: Clock;
  /** Our receive window per connection (limits.flowWindowBytes); 0 turns flow control off. */
  windowBytes: number;
  /** How long a negotiated Connect stream waits for its Credits stream. */
  attachTimeoutMs: number;
}

/** A negotiated Connect stream. */
export interface NegotiatedFlow {
  link: FlowLink;
  /** Response headers to add to Connect's. */
  headers: Record<string, string>;
  /** The Connect stream is gone: forget the token, end the Credits stream. Idempotent. */
  release(): void;
}

interface Entry {
  link: FlowLink;
  /** Closes the Connect stream with this reason. */
  fail(why: string): void;
  timer: TimerHandle | undefined;
  call: grpc.ServerDuplexStream<Buffer, Buffer> | undefined;
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
  negotiate(md: grpc.Metadata, fail: (why: string) => void): NegotiatedFlow | undefined {
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
    const link = new FlowLink({ sendWindow: peerWindow, receiveWindow: this.deps.windowBytes });
    const entry: Entry = { link, fail, timer: undefined, call: undefined };
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
      },
      release: () => this.release(token, entry),
    };
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
      for await (const batch of serverMessages(call as unknown as Duplex)) entry.link.onGrants(decodeGrants(batch));
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
  }
}

function safePeer(call: grpc.ServerDuplexStream<Buffer, Buffer>): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}
