/**
 * Opens one Connect stream to a server: its own gRPC channel (so each
 * connection through a load balancer may land on another replica), the
 * agent's metadata, and the server's `serverid`/`servercount` headers, which
 * must arrive, exactly one of each, before the stream is used.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { GrpcPacketStream, type PacketStream } from '../transport/packet-stream.js';
import { CONNECT_PATH, MD } from '../transport/services.js';
import type { AgentClock } from './clock.js';
import { acceptFlow, type AgentFlow, announceFlow } from './flow-negotiation.js';
import type { AgentConfig } from './config.js';
import { AgentError, ServerRefusedError } from './errors.js';
import { agentChannelOptions, agentCredentials, downlinkChannelOptions, grpcCodeName, readTlsFiles } from './grpc-options.js';
import { FLOW_MAX_WINDOW_BYTES, FLOW_WINDOW_BYTES } from './limits.js';
import type { ServerTarget } from './server-target.js';

/** An open Connect stream whose headers were received. */
export interface ServerConnection {
  /** The `serverid` header. */
  readonly serverID: string;
  /** The `servercount` header. */
  readonly serverCount: number;
  readonly target: ServerTarget;
  readonly stream: PacketStream;
  /** Per-connection flow control, when the server confirmed it (flow-negotiation.ts). */
  readonly flow?: AgentFlow;
  /**
   * The gRPC client of this connection's channel, for our other RPCs on the
   * agent port: pull mode opens its calls here, on the same TLS connection
   * and so the same server replica. Undefined for connectors without one.
   */
  readonly client?: grpc.Client;
  /** True while the underlying channel is READY (the probe removes connections for which it is not). */
  isReady(): boolean;
  /** Cancels the stream and closes the channel. Idempotent. */
  close(): void;
}

/** Opens a server connection to target; rejects with an AgentError. Aborting the signal cancels the attempt. */
export type ServerConnector = (target: ServerTarget, signal: AbortSignal) => Promise<ServerConnection>;

/** What the gRPC connector needs. */
export interface GrpcConnectorOptions {
  config: Pick<
    AgentConfig,
    'agentID' | 'agentIdentifiers' | 'serviceAccountTokenPath' | 'keepaliveTimeMs' | 'caCert' | 'agentCert' | 'agentKey'
  >;
  clock: AgentClock;
  /** Give up when the headers have not arrived within this (TIMING.handshakeTimeoutMs). */
  handshakeTimeoutMs: number;
  /** TLS credentials; default: built from the config's files on every call (connection-auth.ts passes ones that follow their files). */
  credentials?: grpc.ChannelCredentials;
  /** Our receive window per connection, announced for flow control; 0: not announced. Default FLOW_WINDOW_BYTES. */
  flowWindowBytes?: number;
  /** How far a connection's receive window may grow (src/transport/flow-control.ts). Default FLOW_MAX_WINDOW_BYTES. */
  flowMaxWindowBytes?: number;
  /** Offer the Downlink stream, a second connection for server→agent bytes (flow.proto, step 4). Default true. */
  downlink?: boolean;
}

const passThrough = (b: Buffer): Buffer => b;

/** The real connector: TLS + gRPC to target, metadata from the config, token file re-read on every call. */
export function grpcConnector(o: GrpcConnectorOptions): ServerConnector {
  return async (target, signal) => {
    const md = await connectMetadata(o.config);
    const flowWindow = o.flowWindowBytes ?? FLOW_WINDOW_BYTES;
    const offerDownlink = o.downlink ?? true;
    announceFlow(md, flowWindow, offerDownlink);
    const creds = o.credentials ?? agentCredentials(readTlsFiles(o.config));
    const client = new grpc.Client(target.address, creds, agentChannelOptions(o.config));
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(CONNECT_PATH, passThrough, passThrough, md, {});
    // Errors are read through 'status' below and through the packet stream; never let one go unhandled.
    call.on('error', () => undefined);
    const giveUp = (): void => {
      call.cancel();
      client.close();
    };
    let headers: grpc.Metadata;
    try {
      headers = await waitForHeaders(call, signal, o.clock, o.handshakeTimeoutMs);
    } catch (e) {
      giveUp();
      throw e;
    }
    let serverID: string;
    let serverCount: number;
    try {
      ({ serverID, serverCount } = parseHeaders(headers));
    } catch (e) {
      giveUp();
      throw e;
    }
    const stream = new GrpcPacketStream(call, 'client');
    // Only with a single replica: behind a balancer in front of several, the second connection would
    // mostly reach another one (refused), and with a round-robin balancer it would also take the
    // turn that the agent's next Connect needs to reach the replica it lacks.
    const downlinkClient =
      offerDownlink && serverCount === 1 ? () => new grpc.Client(target.address, creds, downlinkChannelOptions(o.config)) : undefined;
    const flow = acceptFlow(client, headers, flowWindow, downlinkClient, o.flowMaxWindowBytes ?? FLOW_MAX_WINDOW_BYTES);
    let closed = false;
    return {
      serverID,
      serverCount,
      target,
      stream,
      ...(flow ? { flow } : {}),
      client,
      isReady: () => !closed && client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY,
      close: () => {
        if (closed) return;
        closed = true;
        flow?.close();
        stream.close({ code: grpc.status.CANCELLED, message: 'closed by agent' });
        client.close();
      },
    };
  };
}

/** agentid, agentidentifiers (always, maybe empty) and the Bearer token when a token file is set. */
export async function connectMetadata(config: GrpcConnectorOptions['config']): Promise<grpc.Metadata> {
  const md = new grpc.Metadata();
  md.set(MD.agentID, config.agentID);
  md.set(MD.agentIdentifiers, config.agentIdentifiers);
  if (config.serviceAccountTokenPath) {
    let token: string;
    try {
      token = await readFile(config.serviceAccountTokenPath, 'utf8');
    } catch (e) {
      throw new AgentError('ERR_TOKEN_READ', `cannot read the service account token ${config.serviceAccountTokenPath}: ${(e as Error).message}`);
    }
    try {
      md.set(MD.authorization, `Bearer ${token}`);
    } catch {
      // grpc-js would quote the token in its message: never log it.
      throw new AgentError(
        'ERR_TOKEN_READ',
        `the service account token in ${config.serviceAccountTokenPath} has characters not allowed in a header (a trailing newline?)`,
      );
    }
  }
  return md;
}

function waitForHeaders(
  call: grpc.ClientDuplexStream<Buffer, Buffer>,
  signal: AbortSignal,
  clock: AgentClock,
  timeoutMs: number,
): Promise<grpc.Metadata> {
  return new Promise((resolve, reject) => {
    const finish = (err: Error | undefined, md?: grpc.Metadata): void => {
      clock.clearTimeout(timer);
      call.off('metadata', onMetadata);
      call.off('status', onStatus);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(md!);
    };
    const onMetadata = (md: grpc.Metadata): void => finish(undefined, md);
    const onStatus = (s: grpc.StatusObject): void =>
      finish(
        s.code === grpc.status.OK
          ? new AgentError('ERR_SERVER_HEADERS', 'the server ended the stream without sending its headers')
          : new ServerRefusedError(s.code, s.details.replace(/\s*Resolution note:\s*$/, ''), grpcCodeName(s.code)),
      );
    const onAbort = (): void => finish(new AgentError('ERR_CONNECT_ABORTED', 'connection attempt cancelled'));
    const timer = clock.setTimeout(
      () => finish(new AgentError('ERR_HANDSHAKE_TIMEOUT', `no serverid/servercount headers within ${timeoutMs} ms`)),
      timeoutMs,
    );
    call.once('metadata', onMetadata);
    call.once('status', onStatus);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exactly one `serverid` and one `servercount` (a decimal ≥ 1), as upstream requires. */
export function parseHeaders(md: grpc.Metadata): { serverID: string; serverCount: number } {
  const ids = md.get(MD.serverID).map(String);
  if (ids.length !== 1) {
    throw new AgentError('ERR_SERVER_HEADERS', `expected one ${MD.serverID} header from the server, got ${ids.length}`);
  }
  const counts = md.get(MD.serverCount).map(String);
  if (counts.length !== 1) {
    throw new AgentError('ERR_SERVER_HEADERS', `expected one ${MD.serverCount} header from the server, got ${counts.length}`);
  }
  const text = counts[0]!.trim();
  const count = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new AgentError('ERR_SERVER_HEADERS', `invalid ${MD.serverCount} header "${counts[0]}": want a whole number of at least 1`);
  }
  return { serverID: ids[0]!, serverCount: count };
}
