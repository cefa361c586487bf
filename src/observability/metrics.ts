/**
 * Prometheus metrics with upstream konnectivity names, types and labels
 * (anp-protocol.md sections 5-7). Each role builds its set on a registry it
 * owns: no global registry, so tests and several roles in one process never clash.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { packetTypeName } from '../protocol/packet.js';

const NS = 'konnectivity_network_proxy';

/**
 * Upstream's stream segments. As upstream, the agent counts what it sends as
 * from_agent and what it receives as to_agent; from_server/to_server are not
 * upstream values.
 */
export type Segment = 'from_client' | 'to_client' | 'from_agent' | 'to_agent' | 'from_server' | 'to_server';

/** Creates a registry with process metrics (RSS, fds, event loop lag). */
export function newRegistry(withDefaults = true): Registry {
  const r = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: r });
  return r;
}

const SEGMENTS: readonly Segment[] = ['from_client', 'to_client', 'from_agent', 'to_agent', 'from_server', 'to_server'];
/** Packet types counted in place (0..DRAIN); anything else goes to the Counter directly. */
const COUNTED_TYPES = 7;

/**
 * stream_packets_total / stream_errors_total, shared by every role under its own prefix.
 *
 * Packets are counted on every packet of every connection, so they are
 * tallied in a plain array and handed to the Counter when it is read (a
 * prom-client inc() hashes its labels on each call).
 */
export class StreamMetrics {
  readonly packets: Counter<'segment' | 'packet_type'>;
  readonly errors: Counter<'segment' | 'code' | 'packet_type'>;
  private readonly tally = new Float64Array(SEGMENTS.length * COUNTED_TYPES);
  private readonly segmentIndex = new Map<Segment, number>(SEGMENTS.map((s, i) => [s, i]));

  constructor(registry: Registry, subsystem: string) {
    this.packets = new Counter({
      name: `${NS}_${subsystem}_stream_packets_total`,
      help: 'Count of packets processed, by segment and packet type.',
      labelNames: ['segment', 'packet_type'],
      registers: [registry],
      collect: () => this.flushTally(),
    });
    this.errors = new Counter({
      name: `${NS}_${subsystem}_stream_errors_total`,
      help: 'Count of gRPC stream errors, by segment, status code and packet type.',
      labelNames: ['segment', 'code', 'packet_type'],
      registers: [registry],
    });
  }

  packet(segment: Segment, type: number): void {
    const si = this.segmentIndex.get(segment);
    if (si === undefined || !(type >= 0 && type < COUNTED_TYPES)) {
      this.packets.inc({ segment, packet_type: packetTypeName(type) });
      return;
    }
    this.tally[si * COUNTED_TYPES + type] += 1;
  }

  private flushTally(): void {
    for (let i = 0; i < this.tally.length; i++) {
      const n = this.tally[i]!;
      if (n === 0) continue;
      this.tally[i] = 0;
      this.packets.inc({ segment: SEGMENTS[Math.floor(i / COUNTED_TYPES)]!, packet_type: packetTypeName(i % COUNTED_TYPES) }, n);
    }
  }

  error(segment: Segment, code: string, type?: number): void {
    this.errors.inc({ segment, code, packet_type: type === undefined ? 'Unknown' : packetTypeName(type) });
  }
}

export type ServerDialFailureReason =
  | 'no_agent'
  | 'error_response'
  | 'unrecognized_response'
  | 'send_rsp'
  | 'backend_close'
  | 'backend_dial_timeout'
  | 'frontend_close';

export class ServerMetrics {
  readonly dialDuration: Histogram;
  readonly frontendWriteDuration: Histogram;
  readonly connectionDuration: Histogram;
  readonly grpcConnections: Gauge<'service_method'>;
  readonly httpConnections: Gauge;
  readonly readyBackendConnections: Gauge;
  readonly readyBackends: Gauge<'proxy_strategy'>;
  readonly pendingBackendDials: Gauge;
  readonly establishedConnections: Gauge;
  readonly fullReceiveChannels: Gauge<'service_method'>;
  readonly dialFailures: Counter<'reason'>;
  /** Ours: packets or frames refused as bad input, by reason. */
  readonly badInput: Counter<'source' | 'reason'>;
  readonly stream: StreamMetrics;

  constructor(readonly registry: Registry) {
    const sub = `${NS}_server`;
    const latency = [0.000001, 0.00001, 0.0001, 0.005, 0.025, 0.1, 0.5, 2.5, 12.5];
    const r = [registry];
    this.dialDuration = new Histogram({
      name: `${sub}_dial_duration_seconds`,
      help: 'Latency of dial to the remote endpoint in seconds',
      buckets: latency,
      registers: r,
    });
    this.frontendWriteDuration = new Histogram({
      name: `${sub}_frontend_write_duration_seconds`,
      help: 'Latency of write to the frontend in seconds',
      buckets: latency,
      registers: r,
    });
    this.connectionDuration = new Histogram({
      name: `${sub}_connection_duration_seconds`,
      help: 'Duration of established tunnel connections in seconds',
      buckets: [0.1, 1, 10, 60, 600, 3600, 36000],
      registers: r,
    });
    this.grpcConnections = new Gauge({
      name: `${sub}_grpc_connections`,
      help: 'Number of current grpc connections, partitioned by service method.',
      labelNames: ['service_method'],
      registers: r,
    });
    this.httpConnections = new Gauge({
      name: `${sub}_http_connections`,
      help: 'Number of current HTTP CONNECT connections',
      registers: r,
    });
    this.readyBackendConnections = new Gauge({
      name: `${sub}_ready_backend_connections`,
      help: 'Number of konnectivity agent connected to the proxy server (deprecated: use ready_backends)',
      registers: r,
    });
    this.readyBackends = new Gauge({
      name: `${sub}_ready_backends`,
      help: 'Number of ready agents, by proxy strategy',
      labelNames: ['proxy_strategy'],
      registers: r,
    });
    this.pendingBackendDials = new Gauge({
      name: `${sub}_pending_backend_dials`,
      help: 'Current number of pending backend dial requests',
      registers: r,
    });
    this.establishedConnections = new Gauge({
      name: `${sub}_established_connections`,
      help: 'Current number of established end-to-end connections',
      registers: r,
    });
    this.fullReceiveChannels = new Gauge({
      name: `${sub}_full_receive_channels`,
      help: 'Number of current connections blocked by a full receive queue, partitioned by service method.',
      labelNames: ['service_method'],
      registers: r,
    });
    this.dialFailures = new Counter({
      name: `${sub}_dial_failure_count`,
      help: 'Number of dial failures observed. Multiple failures can occur for a single dial request.',
      labelNames: ['reason'],
      registers: r,
    });
    this.badInput = new Counter({
      name: `${sub}_bad_input_total`,
      help: 'Streams or connections closed for bad input, by source (client, agent, http) and reason.',
      labelNames: ['source', 'reason'],
      registers: r,
    });
    this.stream = new StreamMetrics(registry, 'server');
    this.grpcConnections.set({ service_method: 'Proxy' }, 0);
    this.grpcConnections.set({ service_method: 'Connect' }, 0);
  }

  dialFailure(reason: ServerDialFailureReason): void {
    this.dialFailures.inc({ reason });
  }
}

export type AgentDialFailureReason = 'timeout' | 'unknown' | 'refused' | 'not_allowed';

export class AgentMetrics {
  readonly dialDuration: Histogram;
  readonly serverConnectionFailures: Counter<'direction'>;
  readonly endpointDialFailures: Counter<'reason'>;
  readonly openServerConnections: Gauge;
  readonly knownServerCount: Gauge;
  readonly openEndpointConnections: Gauge;
  readonly badInput: Counter<'reason'>;
  readonly stream: StreamMetrics;

  constructor(readonly registry: Registry) {
    const sub = `${NS}_agent`;
    const r = [registry];
    this.dialDuration = new Histogram({
      name: `${sub}_dial_duration_seconds`,
      help: 'Latency of dial to the remote endpoint in seconds',
      buckets: [0.005, 0.025, 0.1, 0.5, 2.5, 10, 30],
      registers: r,
    });
    this.serverConnectionFailures = new Counter({
      name: `${sub}_server_connection_failure_count`,
      help: 'Count of failures to send to or receive from the proxy server, by direction (deprecated: use stream_errors_total)',
      labelNames: ['direction'],
      registers: r,
    });
    this.endpointDialFailures = new Counter({
      name: `${sub}_endpoint_dial_failure_total`,
      help: 'Number of failures dialing the remote endpoint, by reason (example: timeout).',
      labelNames: ['reason'],
      registers: r,
    });
    this.openServerConnections = new Gauge({
      name: `${sub}_open_server_connections`,
      help: 'Current number of open server connections.',
      registers: r,
    });
    this.knownServerCount = new Gauge({
      name: `${sub}_known_server_count`,
      help: 'Current number of servers agent is trying to connect to.',
      registers: r,
    });
    this.openEndpointConnections = new Gauge({
      name: `${sub}_open_endpoint_connections`,
      help: 'Current number of open endpoint connections.',
      registers: r,
    });
    this.badInput = new Counter({
      name: `${sub}_bad_input_total`,
      help: 'Packets from a server refused as bad input, by reason.',
      labelNames: ['reason'],
      registers: r,
    });
    this.stream = new StreamMetrics(registry, 'agent');
  }
}

export type ClientDialFailureReason =
  | 'unknown'
  | 'timeout'
  | 'context'
  | 'endpoint'
  | 'dialclosed'
  | 'tunnelclosed'
  | 'tunnelstarted'
  | 'streamsetup';

export class ClientMetrics {
  readonly dialFailures: Counter<'reason'>;
  readonly connections: Gauge<'status'>;
  readonly stream: StreamMetrics;

  constructor(readonly registry: Registry) {
    const sub = `${NS}_client`;
    this.dialFailures = new Counter({
      name: `${sub}_dial_failure_total`,
      help: 'Number of dial failures, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.connections = new Gauge({
      name: `${sub}_client_connections`,
      help: 'Number of open client connections, by status (created, dialing, ok, closing).',
      labelNames: ['status'],
      registers: [registry],
    });
    this.stream = new StreamMetrics(registry, 'client');
  }
}
