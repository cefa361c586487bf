/**
 * The agent's side of flow-control negotiation (proto/tunnel/v1/flow.proto):
 * Connect announces `credits-v1` and our receive window; a server that
 * answers in kind names the stream with a token, and the agent opens
 * FlowService.Credits with it on the same channel (the same HTTP/2
 * connection, so the same server replica). An upstream server answers
 * nothing and the stream runs without flow control.
 *
 * Downlink (flow.proto, step 4): when both sides announce it, the agent also
 * opens FlowService.Downlink with the token on a second channel, which
 * receives with a large HTTP/2 window; the server then sends the DATA and
 * CLOSE_REQ of later connections there. A refusal (another replica behind a
 * load balancer) closes that channel and the agent carries on with Connect.
 */
import * as grpc from '@grpc/grpc-js';
import { FlowLink } from '../transport/flow-control.js';
import { CREDITS_PATH, decodeCredits, DOWNLINK_PATH, FLOW_MD, FLOW_SCHEME, parseWindow } from '../transport/flow-wire.js';
import { GrpcPacketStream, type PacketStream } from '../transport/packet-stream.js';

/** The Credits stream of one Connect stream, with its FlowLink. */
export interface AgentFlow {
  readonly link: FlowLink;
  /**
   * Reads grants until the Credits stream ends; resolves with the reason
   * (never rejects). The link is closed by then.
   */
  run(): Promise<string>;
  /**
   * The Downlink stream, when the server offered it: resolves once the
   * server attached it, or with a reason when it was refused or failed
   * before that (the connection then runs on Connect alone).
   */
  readonly downlink?: Promise<PacketStream | string>;
  /** Closes the link and cancels the Credits and Downlink streams. Idempotent. */
  close(): void;
}

const passThrough = (b: Buffer): Buffer => b;

/**
 * Adds the announcement to Connect's request metadata (window 0: none, the
 * agent then runs without flow control); `downlink`: offer the Downlink stream too.
 */
export function announceFlow(md: grpc.Metadata, windowBytes: number, downlink = false): void {
  if (windowBytes <= 0) return;
  md.set(FLOW_MD.control, FLOW_SCHEME);
  md.set(FLOW_MD.window, String(windowBytes));
  if (downlink) md.set(FLOW_MD.downlink, '1');
}

/**
 * Reads the server's answer in Connect's response headers. Undefined when the
 * server did not confirm (an upstream server, or flow control off on either
 * side); else opens the Credits stream on `client`.
 */
export function acceptFlow(
  client: grpc.Client,
  headers: grpc.Metadata,
  windowBytes: number,
  /** A new channel of its own (own TCP and TLS connection) for the Downlink stream; absent: never opened. */
  downlinkClient?: () => grpc.Client,
  /** Largest a connection's receive window may grow to (default windowBytes: no growth). */
  maxWindowBytes = windowBytes,
): AgentFlow | undefined {
  if (windowBytes <= 0) return undefined;
  const first = (key: string): string | undefined => headers.get(key).map(String)[0];
  if (first(FLOW_MD.control)?.trim() !== FLOW_SCHEME) return undefined;
  const serverWindow = parseWindow(first(FLOW_MD.window));
  const token = first(FLOW_MD.stream);
  if (serverWindow === undefined || !token) return undefined;

  const md = new grpc.Metadata();
  md.set(FLOW_MD.stream, token);
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(CREDITS_PATH, passThrough, passThrough, md, {});
  call.on('error', () => undefined);
  const link = new FlowLink({ sendWindow: serverWindow, receiveWindow: windowBytes, maxReceiveWindow: maxWindowBytes });
  link.attach((batch) => {
    if (!call.writableEnded && !call.destroyed) call.write(batch);
  });
  let closed = false;
  let closeDownlink: (() => void) | undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    link.close();
    call.cancel();
    closeDownlink?.();
  };
  let downlink: Promise<PacketStream | string> | undefined;
  if (downlinkClient && first(FLOW_MD.downlink)?.trim() === '1') {
    const dc = downlinkClient();
    const dcall = dc.makeBidiStreamRequest<Buffer, Buffer>(DOWNLINK_PATH, passThrough, passThrough, md, {});
    dcall.on('error', () => undefined);
    const stream = new GrpcPacketStream(dcall, 'client');
    closeDownlink = () => {
      stream.close({ code: grpc.status.CANCELLED, message: 'closed by agent' });
      dc.close();
    };
    downlink = new Promise((resolve) => {
      const onMetadata = (): void => {
        dcall.off('status', onStatus);
        resolve(stream);
      };
      const onStatus = (st: grpc.StatusObject): void => {
        dcall.off('metadata', onMetadata);
        dc.close();
        resolve(`${grpc.status[st.code] ?? st.code}: ${st.details}`);
      };
      dcall.once('metadata', onMetadata);
      dcall.once('status', onStatus);
    });
  }
  return {
    link,
    close,
    ...(downlink ? { downlink } : {}),
    run: async () => {
      let why = 'the server ended the Credits stream';
      try {
        for await (const batch of call as AsyncIterable<Buffer>) link.onCredits(decodeCredits(batch));
      } catch (e) {
        const err = e as { details?: string; message?: string };
        why = `Credits stream failed: ${err.details ?? err.message ?? String(e)}`;
      }
      close();
      return why;
    },
  };
}
