/**
 * Options of the two grpc-js servers, in one place so HTTP/2 and keepalive
 * tuning happens here only.
 *
 * HTTP/2 windows: grpc-js 1.14 servers take no window settings (its
 * `grpc-node.flow_control_window` applies to channels only), so both servers
 * run with Node's HTTP/2 defaults (64 KiB initial stream window); a tuning
 * change belongs here.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ServerConfig } from './config.js';
import type { ServerLimits } from './limits.js';

/** Upstream's (grpc-go's) default maximum received message: 4 MiB. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

function common(keepaliveTimeMs: number, limits: ServerLimits): grpc.ServerOptions {
  return {
    'grpc.keepalive_time_ms': keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.max_send_message_length': -1,
  };
}

/**
 * The agent listener: server pings every keepaliveTimeMs, agents may ping
 * without active calls. Upstream also refuses agent pings more often than
 * every 30 s; grpc-js has no such enforcement (see limits.agentMinPingIntervalMs).
 */
export function agentServerOptions(config: ServerConfig, limits: ServerLimits): grpc.ServerOptions {
  return { ...common(config.keepaliveTimeMs, limits), 'grpc.keepalive_permit_without_calls': 1 };
}

/** The frontend (ProxyService over our own UDS/TLS listeners): server pings every frontendKeepaliveTimeMs. */
export function frontendServerOptions(config: ServerConfig, limits: ServerLimits): grpc.ServerOptions {
  return common(config.frontendKeepaliveTimeMs, limits);
}
