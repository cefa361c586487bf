/**
 * The gRPC ProxyService side: each Proxy stream is one client session,
 * seen through the Frontend interface.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServerMetrics } from '../observability/metrics.js';
import { dialRspError, ProtocolError } from '../protocol/index.js';
import type { PacketStream } from '../transport/packet-stream.js';
import type { ServerError, ServerErrorCode } from './errors.js';
import type { DialFailure, Frontend, ToClientPacket } from './frontend.js';
import type { Relay } from './relay.js';

/** A Proxy stream as a Frontend: packets go out unchanged, server dial failures as DIAL_RSP errors. */
export class GrpcFrontend implements Frontend {
  readonly kind = 'grpc' as const;

  constructor(private readonly stream: PacketStream) {}

  get peer(): string {
    return this.stream.peer;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  deliver(p: ToClientPacket, written?: () => void): boolean {
    return this.stream.write(p, written);
  }

  dialFailed(f: DialFailure): boolean {
    return this.stream.write(dialRspError(f.random, f.message));
  }

  drained(): Promise<void> {
    return this.stream.drained();
  }

  abort(err: ServerError): void {
    this.stream.close({ code: grpcStatusFor(err.code), message: err.message });
  }
}

/** The gRPC status a client sees when the server ends its stream with this error. */
export function grpcStatusFor(code: ServerErrorCode): grpc.status {
  switch (code) {
    case 'ERR_CLIENT_STALLED':
    case 'ERR_QUEUE_OVERFLOW':
      return grpc.status.RESOURCE_EXHAUSTED;
    case 'ERR_UNEXPECTED_PACKET':
    case 'ERR_BAD_DIAL_ADDRESS':
      return grpc.status.INVALID_ARGUMENT;
    case 'ERR_SHUTTING_DOWN':
    case 'ERR_AGENT_LOST':
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.INTERNAL;
  }
}

/**
 * Serves one Proxy stream until the client ends it. The server never ends a
 * healthy Proxy stream first (upstream behaviour); it ends it with an error
 * only for bad input, a stalled reader or shutdown.
 */
export async function serveProxyStream(stream: PacketStream, relay: Relay, metrics: ServerMetrics): Promise<void> {
  metrics.grpcConnections.inc({ service_method: 'Proxy' });
  const session = relay.openSession(new GrpcFrontend(stream));
  session.log.debug('Proxy stream opened', { peer: stream.peer });
  try {
    for await (const p of stream) {
      // After the session finished (aborted), later packets are read and dropped
      // until the client ends its side.
      await relay.fromClient(session, p);
    }
  } catch (e) {
    if (e instanceof ProtocolError) {
      metrics.badInput.inc({ source: 'client', reason: e.code });
      metrics.stream.error('from_client', 'InvalidArgument');
      session.log.warn('malformed packet from client; stream closed', { peer: stream.peer, error: e.message });
    } else {
      session.log.debug('Proxy stream failed', { peer: stream.peer, error: (e as Error).message });
    }
  } finally {
    relay.finishSession(session);
    if (!stream.closed) stream.close();
    metrics.grpcConnections.dec({ service_method: 'Proxy' });
    session.log.debug('Proxy stream closed', { peer: stream.peer });
  }
}
