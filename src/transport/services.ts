/**
 * gRPC service definitions with pass-through (de)serializers: packets are
 * decoded by GrpcPacketStream, so a malformed frame is ours to report (with
 * the peer's identity, a log line and a metric) instead of a generic grpc-js
 * INTERNAL error.
 */
import type * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** A bidirectional-streaming method of raw Buffers. */
export function bidi(path: string, originalName: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName,
  };
}

export const PROXY_PATH = '/ProxyService/Proxy';
export const CONNECT_PATH = '/AgentService/Connect';

export const proxyServiceDefinition = {
  Proxy: bidi(PROXY_PATH, 'proxy'),
} satisfies grpc.ServiceDefinition;

export const agentServiceDefinition = {
  Connect: bidi(CONNECT_PATH, 'connect'),
} satisfies grpc.ServiceDefinition;

/** Metadata keys of the upstream protocol (lowercase on the wire). */
export const MD = {
  agentID: 'agentid',
  agentIdentifiers: 'agentidentifiers',
  authorization: 'authorization',
  serverID: 'serverid',
  serverCount: 'servercount',
} as const;
