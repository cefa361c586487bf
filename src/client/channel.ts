/**
 * The tunnel's connection to the proxy server's frontend (a Unix socket
 * with plaintext, or TCP with mTLS) and the Proxy streams opened on it, over
 * node:http2 (h2-transport.ts, the default) or a grpc-js channel. Like
 * upstream's clients, no custom metadata is sent on Proxy.
 */
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { GrpcPacketStream, type PacketStream } from '../transport/packet-stream.js';
import { proxyServiceDefinition } from '../transport/services.js';
import { CHANNEL_FLOW_CONTROL_WINDOW, MAX_RECEIVE_MESSAGE_BYTES } from './defaults.js';
import { TunnelError } from './errors.js';
import { H2Transport, type TunnelTransport } from './h2-transport.js';
import type { TunnelEndpoint, TunnelOptions } from './options.js';

export type { TunnelTransport } from './h2-transport.js';

/** The gRPC side of a tunnel over grpc-js. */
export interface TunnelChannel {
  /** The grpc-js client that owns the channel. */
  readonly client: grpc.Client;
  /** The gRPC target, e.g. "unix:/run/konnectivity.sock" or "10.0.0.1:8090". */
  readonly target: string;
}

/** Channel options the http2 transport understands (see TunnelBehaviour.channelOptions). */
const H2_CHANNEL_OPTIONS = new Set([
  'grpc.keepalive_time_ms',
  'grpc.keepalive_timeout_ms',
  'grpc.keepalive_permit_without_calls',
  'grpc-node.flow_control_window',
  'grpc.max_receive_message_length',
  'grpc.default_authority',
  'grpc.ssl_target_name_override',
  'grpc.primary_user_agent',
  'grpc.use_local_subchannel_pool',
]);

/** Builds the transport createTunnel() asked for. Throws TunnelError ERR_INVALID_OPTIONS on bad options. */
export function openTransport(opts: TunnelOptions): TunnelTransport {
  const transport = opts.transport ?? 'http2';
  if (transport === 'grpc-js') return new GrpcJsTransport(openChannel(opts, opts.channelOptions));
  if (transport !== 'http2') {
    throw new TunnelError('ERR_INVALID_OPTIONS', `transport: expected "http2" or "grpc-js", got ${JSON.stringify(transport)}`);
  }
  return openH2Transport(opts, opts.channelOptions ?? {});
}

function openH2Transport(endpoint: TunnelEndpoint, co: grpc.ChannelOptions): H2Transport {
  const unknown = Object.keys(co).filter((k) => !H2_CHANNEL_OPTIONS.has(k));
  if (unknown.length > 0) {
    throw new TunnelError(
      'ERR_INVALID_OPTIONS',
      `channelOptions ${unknown.join(', ')}: only the grpc-js transport has ${unknown.length === 1 ? 'it' : 'them'}; ` +
        `set transport: 'grpc-js', or use ${[...H2_CHANNEL_OPTIONS].join(', ')}`,
    );
  }
  const num = (k: string, dflt: number): number => {
    const v = co[k] as unknown;
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new TunnelError('ERR_INVALID_OPTIONS', `channelOptions ${k}: expected a number ≥ 0, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const str = (k: string): string | undefined => {
    const v = co[k] as unknown;
    if (v !== undefined && typeof v !== 'string') {
      throw new TunnelError('ERR_INVALID_OPTIONS', `channelOptions ${k}: expected a string, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const common = {
    window: num('grpc-node.flow_control_window', CHANNEL_FLOW_CONTROL_WINDOW),
    maxMessageBytes: num('grpc.max_receive_message_length', MAX_RECEIVE_MESSAGE_BYTES),
    keepaliveMs: num('grpc.keepalive_time_ms', 0),
    keepaliveTimeoutMs: num('grpc.keepalive_timeout_ms', 20_000),
    userAgent: [str('grpc.primary_user_agent'), `tke-anp-tunnel-client node-http2/${process.versions.node}`].filter(Boolean).join(' '),
  };
  if ('uds' in endpoint) {
    const path = checkUds(endpoint.uds);
    return new H2Transport({
      ...common,
      target: `unix:${path}`,
      authorityURL: 'http://localhost',
      authority: str('grpc.default_authority') ?? 'localhost',
      createConnection: () => net.connect(path),
    });
  }
  const { address, tls } = checkTcp(endpoint);
  const servername = tls.servername ?? str('grpc.ssl_target_name_override');
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return new H2Transport({
    ...common,
    target: address,
    authorityURL: `https://${address}`,
    authority: str('grpc.default_authority') ?? servername ?? address,
    tls: {
      ca: toBuffer(tls.ca),
      cert: tls.cert === undefined ? undefined : toBuffer(tls.cert),
      key: tls.key === undefined ? undefined : toBuffer(tls.key),
      // SNI takes a name only; an IP address is checked against the certificate's IP SANs.
      servername: servername ?? (net.isIP(host) === 0 ? host : undefined),
    },
  });
}

function checkUds(path: string): string {
  if (!path) throw new TunnelError('ERR_INVALID_OPTIONS', 'uds: a socket path is required');
  return path;
}

function checkTcp(endpoint: Extract<TunnelEndpoint, { address: string }>): Extract<TunnelEndpoint, { address: string }> {
  const { address, tls } = endpoint;
  if (!address || !/^(\[[^\]]+\]|[^:[\]]+):\d+$/.test(address)) {
    throw new TunnelError('ERR_INVALID_OPTIONS', `address: expected host:port, got ${JSON.stringify(address)}`);
  }
  if (!tls?.ca) throw new TunnelError('ERR_INVALID_OPTIONS', 'tls.ca: the CA of the proxy server is required');
  if (!tls.cert !== !tls.key) {
    throw new TunnelError('ERR_INVALID_OPTIONS', 'tls.cert and tls.key must be given together');
  }
  return endpoint;
}

/** Builds a grpc-js channel for an endpoint. Throws TunnelError ERR_INVALID_OPTIONS on bad options. */
export function openChannel(endpoint: TunnelEndpoint, overrides: grpc.ChannelOptions = {}): TunnelChannel {
  const extra: grpc.ChannelOptions = { 'grpc-node.flow_control_window': CHANNEL_FLOW_CONTROL_WINDOW, ...overrides };
  if ('uds' in endpoint) {
    const target = `unix:${checkUds(endpoint.uds)}`;
    return { client: new grpc.Client(target, grpc.credentials.createInsecure(), { ...extra }), target };
  }
  const { address, tls } = checkTcp(endpoint);
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

/** A tunnel's grpc-js channel as a TunnelTransport. */
export class GrpcJsTransport implements TunnelTransport {
  readonly target: string;
  constructor(readonly channel: TunnelChannel) {
    this.target = channel.target;
  }

  ready(timeoutMs: number): Promise<void> {
    return waitUntilReady(this.channel, timeoutMs);
  }

  openStream(): PacketStream {
    return openProxyStream(this.channel);
  }

  close(): void {
    this.channel.client.close();
  }
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

/** Opens one Proxy stream on a grpc-js channel. */
export function openProxyStream(ch: TunnelChannel): PacketStream {
  const def = proxyServiceDefinition.Proxy;
  const call = ch.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpc.Metadata());
  return new GrpcPacketStream(call, 'client', ch.target);
}

function toBuffer(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}
