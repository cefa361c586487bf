/**
 * Options of the two grpc-js servers, in one place so HTTP/2 and keepalive
 * tuning happens here only.
 *
 * HTTP/2 windows: grpc-js 1.14 servers take no window settings (its
 * `grpc-node.flow_control_window` applies to channels only); TunnelServer
 * applies AGENT_LISTENER_H2 with transport/h2-tuning.ts. The frontend gives
 * Node clients (our client library: 1 MiB, for downloads) the small side,
 * since only one side of a Node-to-Node connection may have large windows
 * (h2-tuning.ts): FRONTEND_UNIX_NODE_H2 on the Unix socket, Node's 64 KiB
 * over TCP; grpc-go clients get FRONTEND_GO_CLIENT_H2 (frontendTuning).
 * Values chosen by measurement (src/transport/FLOW-CONTROL.md).
 */
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type http2 from 'node:http2';
import { type H2Tuning, isGrpcGo, isUnixClient } from '../transport/h2-tuning.js';
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

/**
 * The frontend's receive windows for other (Node) clients on the Unix
 * socket, such as our client library, whose own receive window is the large
 * one. Still the small side: a client may have at most this much DATA on
 * the way, which its socket's send buffer (net.core.wmem_default, 208 KiB
 * unless changed) holds with room to spare, so its writes never pend and it
 * keeps reading whatever the frontend sends. Measured against Node's 64 KiB
 * (256 MiB uploads through the gRPC frontend, with growing credit windows
 * behind it): 245–288 vs 315–385 MiB/s after warm-up; the client then waits
 * for a WINDOW_UPDATE every ~64 KiB instead of every ~32.
 */
export const FRONTEND_UNIX_NODE_H2: Readonly<H2Tuning> = Object.freeze({
  streamWindow: 128 * 1024,
  connectionWindow: 128 * 1024,
});

/** The send buffer a Unix-socket client needs for FRONTEND_UNIX_NODE_H2: 1.5 times its window. */
export const UNIX_NODE_MIN_SEND_BUFFER = (FRONTEND_UNIX_NODE_H2.connectionWindow * 3) / 2;

/** net.core.wmem_default: the send buffer every new socket gets (undefined where it cannot be read). */
export function defaultSendBufferBytes(file = '/proc/sys/net/core/wmem_default'): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which windows a frontend connection gets, from its first request: grpc-go
 * clients FRONTEND_GO_CLIENT_H2; other clients on the Unix socket
 * FRONTEND_UNIX_NODE_H2 when the system's default send buffer
 * (`sendBuffer`, see defaultSendBufferBytes) is at least
 * UNIX_NODE_MIN_SEND_BUFFER; everyone else Node's 64 KiB.
 */
export function frontendTuning(
  sendBuffer: number | undefined,
): (headers: http2.IncomingHttpHeaders, session: http2.Http2Session) => H2Tuning | undefined {
  const unixOk = sendBuffer !== undefined && sendBuffer >= UNIX_NODE_MIN_SEND_BUFFER;
  return (headers, session) => {
    if (isGrpcGo(headers)) return FRONTEND_GO_CLIENT_H2;
    if (unixOk && isUnixClient(session)) return FRONTEND_UNIX_NODE_H2;
    return undefined;
  };
}

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
