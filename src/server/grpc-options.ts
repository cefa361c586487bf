/**
 * Options of the two grpc-js servers, in one place so HTTP/2 and keepalive
 * tuning happens here only.
 *
 * HTTP/2 windows: grpc-js 1.14 servers take no window settings (its
 * `grpc-node.flow_control_window` applies to channels only); TunnelServer
 * applies AGENT_LISTENER_H2 with transport/h2-tuning.ts. The frontend keeps
 * Node's 64 KiB receive windows for Node clients: they (our client library:
 * 1 MiB) take downloads fast, and only one side of a Node-to-Node connection
 * may have large windows (h2-tuning.ts); grpc-go clients get
 * FRONTEND_GO_CLIENT_H2. Values chosen by measurement
 * (src/transport/FLOW-CONTROL.md).
 */
import type * as grpc from '@grpc/grpc-js';
import type { H2Tuning } from '../transport/h2-tuning.js';
import type { ServerConfig } from './config.js';
import type { ServerLimits } from './limits.js';

/** Upstream's (grpc-go's) default maximum received message: 4 MiB. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * The agent listener's receive windows: each agent multiplexes all its
 * connections on one Connect stream, so this window bounds every download
 * through the agent (agent→server). Large, since the server always reads
 * Connect at once (per-connection credits, or with upstream agents the
 * per-connection queues, bound what a connection may hold). Agents keep
 * Node's 64 KiB window for what the server sends them (agent/grpc-options.ts):
 * both sides large could stall a busy connection for good (h2-tuning.ts).
 */
export const AGENT_LISTENER_H2: Readonly<H2Tuning> = Object.freeze({
  streamWindow: 8 * 1024 * 1024,
  connectionWindow: 16 * 1024 * 1024,
});

/**
 * The frontend's receive windows for grpc-go clients (kube-apiserver, the
 * upstream konnectivity client), which keep reading while they write, so a
 * large window on our side is safe with them: uploads through the tunnel
 * then do not wait for a WINDOW_UPDATE every 32 KiB. Measured with a large
 * frontend window (our Node client on the other side, only to measure):
 * gRPC uploads 247–264 vs 159–186 MiB/s, server CPU 2.4–2.5 vs 3.1–3.3 ms
 * per MiB. Other clients keep Node's 64 KiB (see above).
 */
export const FRONTEND_GO_CLIENT_H2: Readonly<H2Tuning> = Object.freeze({
  streamWindow: 4 * 1024 * 1024,
  connectionWindow: 8 * 1024 * 1024,
});

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
