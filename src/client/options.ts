/** Options of createTunnel() and tunnel.dial(). */
import type { ChannelOptions } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import type { ClientMetrics } from '../observability/metrics.js';
import type { DialIDSource } from '../protocol/index.js';

/** TLS material for a TCP (mTLS) frontend. PEM text or buffers. */
export interface TunnelTlsOptions {
  /** CA bundle that signed the proxy server's certificate. */
  ca: string | Buffer;
  /** Client certificate (the upstream frontend requires one since v0.35.0). Give it with `key`. */
  cert?: string | Buffer;
  /** Private key of `cert`. */
  key?: string | Buffer;
  /** Name to check the server certificate against, when it differs from the host of `address`. */
  servername?: string;
}

/** Where the proxy server's frontend is: a Unix socket (plaintext), or TCP with mTLS. */
export type TunnelEndpoint =
  | {
      /** Path of the server's Unix socket (upstream `--uds-name`). */
      uds: string;
    }
  | {
      /** `host:port` of the server's frontend (upstream `--server-port`, default 8090). */
      address: string;
      /** TLS settings for the frontend. */
      tls: TunnelTlsOptions;
    };

/** One-shot timers the client runs on; injected so tests can replace them. */
export interface ClientTimers {
  /** Milliseconds since an arbitrary origin; only differences are used. */
  now(): number;
  /** Calls fn once after ms; must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer; ignores handles already fired or cleared. */
  clearTimeout(handle: unknown): void;
}

/** Real timers (unref'd, so they never keep the process alive). */
export const systemTimers: ClientTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Behaviour settings shared by every dial of a tunnel. */
export interface TunnelBehaviour {
  /** Logger; connection events are logged at debug level, nothing per packet. Default: silent. */
  logger?: Logger;
  /** Client metrics (`dial_failure_total`, `client_connections`, stream packet counts). Default: none. */
  metrics?: ClientMetrics;
  /** Backstop for a dial without DIAL_RSP, in ms (reason `timeout`). Default 30 000, as upstream. */
  dialTimeoutMs?: number;
  /** How long end() waits for CLOSE_RSP before destroying with "close timeout". Default 10 000. */
  closeTimeoutMs?: number;
  /** How long createTunnel() waits for the server to be reachable. Default 30 000. */
  connectTimeoutMs?: number;
  /**
   * How the tunnel speaks gRPC. `http2` (default): directly over Node's
   * HTTP/2, the same bytes on the wire as grpc-js with less work per
   * message (no copy of DATA payloads on the way in). `grpc-js`: a grpc-js
   * channel, for the channel options only grpc-js has.
   */
  transport?: 'http2' | 'grpc-js';
  /**
   * Extra grpc-js channel options, applied over ours. With transport
   * `grpc-js`: any. With `http2`: `grpc.keepalive_time_ms`,
   * `grpc.keepalive_timeout_ms` (default 20 000),
   * `grpc.keepalive_permit_without_calls` (pings always run while
   * connected), `grpc-node.flow_control_window`,
   * `grpc.max_receive_message_length`, `grpc.default_authority`,
   * `grpc.ssl_target_name_override`, `grpc.primary_user_agent`,
   * `grpc.use_local_subchannel_pool` (each tunnel has its own connection
   * anyway); others are refused with ERR_INVALID_OPTIONS.
   */
  channelOptions?: ChannelOptions;
  /** Source of dial ids; default: random non-zero 63-bit values, like upstream's Go client. */
  dialIDSource?: DialIDSource;
  /** Timers; default: real unref'd timers. */
  timers?: ClientTimers;
}

/** Options of createTunnel(): an endpoint plus behaviour settings. */
export type TunnelOptions = TunnelEndpoint & TunnelBehaviour;

/** Options of one tunnel.dial(). */
export interface DialOptions {
  /** Aborting it fails a pending dial with reason `context` and sends DIAL_CLS. No effect once connected. */
  signal?: AbortSignal;
  /** Deadline for this dial in ms (reason `context`, like a Go context deadline). */
  timeoutMs?: number;
}
