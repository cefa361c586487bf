/**
 * gRPC channel and call options of the agent's server connections, and its
 * TLS credentials, in one place so HTTP/2 windows and keepalive can be tuned
 * without touching the connection logic.
 *
 * ALPN: grpc-js sets `ALPNProtocols: ['h2']` on every TLS connection after
 * applying our options (channel-credentials getConnectionOptions), and a
 * SecureContext carries no ALPN list, so `--alpn-proto` values cannot be
 * offered through grpc-js 1.14; the agent logs a warning when they are given.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { AgentConfig } from './config.js';

/**
 * HTTP/2 stream and connection receive window of a server connection: what a
 * server may send us before our WINDOW_UPDATE. Node's 64 KiB default, on
 * purpose: our server's agent listener has large receive windows (downloads
 * through the agent are the bulk), and when both sides of a Node-to-Node
 * connection have windows larger than the sockets buffer, traffic in both
 * directions at once can stall the connection for good (transport/h2-tuning.ts).
 * Server-to-agent bulk bytes take the Downlink connection instead, when there
 * is one (DOWNLINK_FLOW_CONTROL_WINDOW below, transport/FLOW-CONTROL.md).
 */
export const FLOW_CONTROL_WINDOW = 65_535;
/** Largest packet accepted from a server: grpc-go's default, as upstream servers assume. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Wait this long for a keepalive ping's answer before the connection is considered dead. */
export const KEEPALIVE_TIMEOUT_MS = 20_000;

/** Channel options for one server connection. */
export function agentChannelOptions(config: Pick<AgentConfig, 'keepaliveTimeMs'>): grpc.ChannelOptions {
  return {
    // Each connection must be its own TCP+TLS connection: behind a load balancer every new
    // connection may reach another server replica, which a shared subchannel would defeat.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.keepalive_time_ms': config.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    // A Connect stream lives for hours: never buffer its messages for a retry.
    'grpc.enable_retries': 0,
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    // One server connection per channel: a single failed attempt is reported, the client set retries.
    'grpc.initial_reconnect_backoff_ms': 1_000,
  };
}

/**
 * Receive window of the Downlink channel (flow.proto, step 4): the agent
 * sends nothing there, so it can receive with a window as large as the
 * server's for the Connect stream without the two-way stall.
 */
export const DOWNLINK_FLOW_CONTROL_WINDOW = 8 * 1024 * 1024;

/** Channel options for the Downlink stream's own connection: as Connect's, with a large receive window. */
export function downlinkChannelOptions(config: Pick<AgentConfig, 'keepaliveTimeMs'>): grpc.ChannelOptions {
  return { ...agentChannelOptions(config), 'grpc-node.flow_control_window': DOWNLINK_FLOW_CONTROL_WINDOW };
}

/** The TLS files of the agent, read from disk. */
export interface AgentTlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Reads --ca-cert, --agent-cert and --agent-key (each optional). */
export function readTlsFiles(config: Pick<AgentConfig, 'caCert' | 'agentCert' | 'agentKey'>): AgentTlsFiles {
  const files: AgentTlsFiles = {};
  if (config.caCert) files.ca = readFileSync(config.caCert);
  if (config.agentCert) files.cert = readFileSync(config.agentCert);
  if (config.agentKey) files.key = readFileSync(config.agentKey);
  return files;
}

/**
 * TLS credentials: the CA bundle as root (system roots without one), the
 * client certificate when given, TLS 1.2 at least. The server name checked is
 * the host the connection dials (an IP host is checked against IP SANs).
 */
export function agentCredentials(files: AgentTlsFiles): grpc.ChannelCredentials {
  const context = tls.createSecureContext({
    minVersion: 'TLSv1.2',
    ...(files.ca ? { ca: files.ca } : {}),
    ...(files.cert ? { cert: files.cert } : {}),
    ...(files.key ? { key: files.key } : {}),
  });
  return grpc.credentials.createFromSecureContext(context);
}

/** A gRPC status code as grpc-go names it ("Unauthenticated"), for stream_errors_total. */
export function grpcCodeName(code: number | undefined): string {
  if (code === undefined) return 'Unknown';
  const upper = (grpc.status as unknown as Record<number, string | undefined>)[code];
  if (upper === undefined) return `Code(${code})`;
  if (upper === 'OK') return 'OK';
  if (upper === 'CANCELLED') return 'Canceled';
  return upper
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
