/**
 * The agent's side of flow-control negotiation (proto/tunnel/v1/flow.proto):
 * Connect announces `credits-v1` and our receive window; a server that
 * answers in kind names the stream with a token, and the agent opens
 * FlowService.Credits with it on the same channel (the same HTTP/2
 * connection, so the same server replica). An upstream server answers
 * nothing and the stream runs without flow control.
 */
import * as grpc from '@grpc/grpc-js';
import { FlowLink } from '../transport/flow-control.js';
import { CREDITS_PATH, decodeGrants, FLOW_MD, FLOW_SCHEME, parseWindow } from '../transport/flow-wire.js';

/** The Credits stream of one Connect stream, with its FlowLink. */
export interface AgentFlow {
  readonly link: FlowLink;
  /**
   * Reads grants until the Credits stream ends; resolves with the reason
   * (never rejects). The link is closed by then.
   */
  run(): Promise<string>;
  /** Closes the link and cancels the Credits stream. Idempotent. */
  close(): void;
}

const passThrough = (b: Buffer): Buffer => b;

/** Adds the announcement to Connect's request metadata (window 0: none, the agent then runs without flow control). */
export function announceFlow(md: grpc.Metadata, windowBytes: number): void {
  if (windowBytes <= 0) return;
  md.set(FLOW_MD.control, FLOW_SCHEME);
  md.set(FLOW_MD.window, String(windowBytes));
}

/**
 * Reads the server's answer in Connect's response headers. Undefined when the
 * server did not confirm (an upstream server, or flow control off on either
 * side); else opens the Credits stream on `client`.
 */
export function acceptFlow(client: grpc.Client, headers: grpc.Metadata, windowBytes: number): AgentFlow | undefined {
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
  const link = new FlowLink({ sendWindow: serverWindow, receiveWindow: windowBytes });
  link.attach((batch) => {
    if (!call.writableEnded && !call.destroyed) call.write(batch);
  });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    link.close();
    call.cancel();
  };
  return {
    link,
    close,
    run: async () => {
      let why = 'the server ended the Credits stream';
      try {
        for await (const batch of call as AsyncIterable<Buffer>) link.onGrants(decodeGrants(batch));
      } catch (e) {
        const err = e as { details?: string; message?: string };
        why = `Credits stream failed: ${err.details ?? err.message ?? String(e)}`;
      }
      close();
      return why;
    },
  };
}
