/**
 * The tunnel's gRPC channel: one grpc-js Client per tunnel (a Unix socket
 * with plaintext, or TCP with mTLS), and the Proxy streams opened on it.
 * Like upstream's clients, no custom metadata is sent on Proxy.
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcPacketStream, type PacketStream } from '../transport/packet-stream.js';
import { proxyServiceDefinition } from '../transport/services.js';
import { CHANNEL_FLOW_CONTROL_WINDOW } from './defaults.js';
import { TunnelError } from './errors.js';
import type { TunnelEndpoint } from './options.js';

/** The gRPC side of a tunnel. */
export interface TunnelChannel {
  /** The grpc-js client that owns the channel. */
  readonly client: grpc.Client;
  /** The gRPC target, e.g. "unix:/run/konnectivity.sock" or "10.0.0.1:8090". */
  readonly target: string;
}

/** Builds the channel for an endpoint. Throws TunnelError ERR_INVALID_OPTIONS on bad options. */
export function openChannel(endpoint: TunnelEndpoint, overrides: grpc.ChannelOptions = {}): TunnelChannel {
  const extra: grpc.ChannelOptions = { 'grpc-node.flow_control_window': CHANNEL_FLOW_CONTROL_WINDOW, ...overrides };
  if ('uds' in endpoint) {
    if (!endpoint.uds) throw new TunnelError('ERR_INVALID_OPTIONS', 'uds: a socket path is required');
    const target = `unix:${endpoint.uds}`;
    return { client: new grpc.Client(target, grpc.credentials.createInsecure(), { ...extra }), target };
  }
  const { address, tls } = endpoint;
  if (!address || !/^(\[[^\]]+\]|[^:[\]]+):\d+$/.test(address)) {
    throw new TunnelError('ERR_INVALID_OPTIONS', `address: expected host:port, got ${JSON.stringify(address)}`);
  }
  if (!tls?.ca) throw new TunnelError('ERR_INVALID_OPTIONS', 'tls.ca: the CA of the proxy server is required');
  if (!tls.cert !== !tls.key) {
    throw new TunnelError('ERR_INVALID_OPTIONS', 'tls.cert and tls.key must be given together');
  }
  const creds = grpc.credentials.createSsl(
    toBuffer(tls.ca),
    tls.key === undefined ? null : toBuffer(tls.key),
    tls.cert === undefined ? null : toBuffer(tls.cert),
  );
  const options: grpc.ChannelOptions = {};
  if (tls.servername) {
    options['grpc.ssl_target_name_override'] = tls.servername;
    options['grpc.default_authority'] = tls.servername;
  }
  return { client: new grpc.Client(address, creds, { ...options, ...extra }), target: address };
}

/**
 * Waits until the channel is connected. Fails at the first failed attempt
 * (server down, TLS refused) or after `timeoutMs`.
 */
export function waitUntilReady(ch: TunnelChannel, timeoutMs: number): Promise<void> {
  const channel = ch.client.getChannel();
  const deadline = Date.now() + timeoutMs;
  return new Promise<void>((resolve, reject) => {
    const fail = (why: string): void =>
      reject(new TunnelError('ERR_TUNNEL_CONNECT', `cannot connect to the proxy server at ${ch.target}: ${why}`));
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      switch (state) {
        case grpc.connectivityState.READY:
          return resolve();
        case grpc.connectivityState.TRANSIENT_FAILURE:
          return fail('connection failed');
        case grpc.connectivityState.SHUTDOWN:
          return fail('channel closed');
        default:
          channel.watchConnectivityState(state, deadline, (err) => (err ? fail(`no connection within ${timeoutMs} ms`) : check()));
      }
    };
    check();
  });
}

/** Opens one Proxy stream on the channel. */
export function openProxyStream(ch: TunnelChannel): PacketStream {
  const def = proxyServiceDefinition.Proxy;
  const call = ch.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpc.Metadata());
  return new GrpcPacketStream(call, 'client', ch.target);
}

function toBuffer(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}
