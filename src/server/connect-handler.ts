/**
 * AgentService.Connect: checks the metadata, authenticates the agent before
 * any header is sent, checks what it announces against its identity, sends
 * `serverid`/`servercount`, registers the stream and serves its packets.
 */
import * as grpc from '@grpc/grpc-js';
import type tls from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { type AgentIdentifiers, parseIdentifiers, ProtocolError, TEXT } from '../protocol/index.js';
import type { FlowLink } from '../transport/flow-control.js';
import { GrpcPacketStream, type PacketStream } from '../transport/packet-stream.js';
import { MD } from '../transport/services.js';
import { AgentAuthError, type AgentAuthenticator, type AgentIdentity } from './auth/types.js';
import type { Backend } from './backend.js';
import type { FlowStreams } from './flow-streams.js';
import type { Relay } from './relay.js';

/** What the Connect handler needs. */
export interface ConnectHandlerDeps {
  relay: Relay;
  authenticator: AgentAuthenticator;
  serverID: string;
  /** The `servercount` value for this agent (a flag, or the live Lease count). */
  serverCount: () => number;
  logger: Logger;
  metrics: ServerMetrics;
  /** Told when an agent's first stream registers and when its last one is gone. */
  events?: AgentEvents;
  /** Per-connection flow control with agents that announce it; absent: never negotiated. */
  flow?: FlowStreams;
}

/** An agent's arrival and departure (the server hooks listen). */
export interface AgentEvents {
  agentConnected(agent: AgentEventInfo): void;
  agentDisconnected(agent: AgentEventInfo): void;
}

/** Who arrived or left: the agent id and the identifiers of its first stream. */
export interface AgentEventInfo {
  agentID: string;
  identifiers: Readonly<Record<string, readonly string[]>>;
}

/** A refusal of a Connect (or a pull call) before any header: gRPC status and message. */
export interface Refusal {
  code: grpc.status;
  message: string;
  /** bad_input_total reason. */
  reason: string;
}

/** Builds the grpc-js handler for AgentService.Connect. */
export function makeConnectHandler(deps: ConnectHandlerDeps): grpc.handleBidiStreamingCall<Buffer, Buffer> {
  return (call) => {
    void serveConnect(call, deps).catch((e: unknown) =>
      deps.logger.error('Connect handler failed', { error: (e as Error).message }),
    );
  };
}

async function serveConnect(call: grpc.ServerDuplexStream<Buffer, Buffer>, deps: ConnectHandlerDeps): Promise<void> {
  const { metrics, logger } = deps;
  const stream = new GrpcPacketStream(call, 'server');
  const refuse = (r: Refusal, fields: Record<string, unknown> = {}): void => {
    metrics.badInput.inc({ source: 'agent', reason: r.reason });
    logger.warn('agent refused', { peer: stream.peer, ...fields, error: r.message });
    stream.close({ code: r.code, message: r.message });
  };

  const md = call.metadata;
  const ids = values(md, MD.agentID);
  if (ids.length !== 1) {
    refuse({
      code: grpc.status.INVALID_ARGUMENT,
      message: `${TEXT.expectedOneAgentID} in the ${MD.agentID} metadata, got ${ids.length}`,
      reason: 'agent_id',
    });
    return;
  }
  const agentID = ids[0]!;
  const identValues = values(md, MD.agentIdentifiers);
  if (identValues.length > 1) {
    refuse(
      {
        code: grpc.status.INVALID_ARGUMENT,
        message: `expected at most one ${MD.agentIdentifiers} value, got ${identValues.length}`,
        reason: 'agent_identifiers',
      },
      { agentID },
    );
    return;
  }
  const identifiersText = identValues[0] ?? '';
  const identifiers = parseIdentifiers(identifiersText, false);

  let peerCertificate: tls.PeerCertificate | undefined;
  let identity: AgentIdentity;
  try {
    peerCertificate = call.getAuthContext()?.sslPeerCertificate;
    identity = await deps.authenticator.authenticate({
      agentID,
      identifiers: identifiersText,
      authorization: md.get(MD.authorization).map(String),
      peerCertificate,
      peer: stream.peer,
    });
  } catch (e) {
    refuse(authRefusal(e), { agentID });
    return;
  }
  const notAllowed = checkAllowed(identity, agentID, identifiers);
  if (notAllowed) {
    refuse({ code: grpc.status.PERMISSION_DENIED, message: notAllowed, reason: 'not_allowed' }, { agentID, identity: identity.subject });
    return;
  }
  if (stream.closed) return;

  const header = new grpc.Metadata();
  header.set(MD.serverID, deps.serverID);
  header.set(MD.serverCount, String(deps.serverCount()));
  const flow = deps.flow?.negotiate(
    md,
    (why) => {
      logger.warn('closing a flow-controlled agent stream', { agentID, peer: stream.peer, reason: why });
      stream.close({ code: grpc.status.UNAVAILABLE, message: why });
    },
    peerCertificate?.fingerprint256 || undefined,
  );
  for (const [k, v] of Object.entries(flow?.headers ?? {})) header.set(k, v);
  call.sendMetadata(header);
  try {
    await serveAgentStream(stream, deps, { agentID, identifiersText, identifiers, identity }, flow?.link, flow?.bindBackend);
  } finally {
    flow?.release();
  }
}

/** Who an admitted agent stream belongs to. */
export interface AgentStreamOwner {
  agentID: string;
  identifiersText: string;
  identifiers: AgentIdentifiers;
  identity: AgentIdentity;
}

/**
 * Registers an admitted agent stream and serves its packets until it ends;
 * then fails its pending dials and closes its connections. Resolves when the
 * stream is gone.
 */
export async function serveAgentStream(
  stream: PacketStream,
  deps: Pick<ConnectHandlerDeps, 'relay' | 'logger' | 'metrics' | 'events'>,
  who: AgentStreamOwner,
  flow?: FlowLink,
  /** Called with the registered backend (the Downlink stream attaches to it). */
  onBackend?: (b: Backend) => void,
): Promise<void> {
  const { metrics, relay } = deps;
  const log = deps.logger.child({ agentID: who.agentID });
  metrics.grpcConnections.inc({ service_method: 'Connect' });
  const backend = relay.addBackend({ ...who, stream, logger: log, ...(flow ? { flow } : {}) });
  onBackend?.(backend);
  log.info('agent connected', {
    peer: stream.peer,
    flowControl: flow !== undefined,
    identifiers: who.identifiersText,
    identity: who.identity.subject,
    authMethod: who.identity.method,
  });
  const info = { agentID: who.agentID, identifiers: identifierLists(who.identifiers) };
  if (relay.registry.byAgent().get(who.agentID)?.length === 1) deps.events?.agentConnected(info);
  let why = 'stream ended';
  try {
    for await (const p of stream) relay.fromAgent(backend, p);
  } catch (e) {
    why = (e as Error).message;
    if (e instanceof ProtocolError) {
      metrics.badInput.inc({ source: 'agent', reason: e.code });
      metrics.stream.error('from_agent', 'InvalidArgument');
      log.warn('malformed packet from agent; stream closed', { peer: stream.peer, error: e.message });
    }
  } finally {
    relay.removeBackend(backend);
    if (!stream.closed) stream.close();
    metrics.grpcConnections.dec({ service_method: 'Connect' });
    log.info('agent disconnected', { peer: stream.peer, identity: who.identity.subject, reason: why });
    if (!relay.registry.byAgent().has(who.agentID)) deps.events?.agentDisconnected(info);
  }
}

/** Announced identifiers by key, only the keys given (`{ host: ['cluster-a'] }`). */
function identifierLists(ids: AgentIdentifiers): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of ['host', 'ipv4', 'ipv6', 'cidr'] as const) if (ids[key].length > 0) out[key] = [...ids[key]];
  if (ids.defaultRoute) out['default-route'] = ['true'];
  return out;
}

/**
 * The values of a metadata key. Node's HTTP/2 layer joins repeated header
 * fields with ", " before grpc-js sees them, so a joined value is split back
 * (agent ids never contain ", "; Go URL-encodes commas in identifiers).
 */
export function values(md: grpc.Metadata, key: string): string[] {
  return md.get(key).flatMap((v) => String(v).split(', '));
}

/** The refusal for an authenticator's rejection. */
export function authRefusal(e: unknown): Refusal {
  if (e instanceof AgentAuthError) {
    return e.code === 'ERR_AGENT_FORBIDDEN'
      ? { code: grpc.status.PERMISSION_DENIED, message: e.message, reason: 'forbidden' }
      : { code: grpc.status.UNAUTHENTICATED, message: e.message, reason: 'unauthenticated' };
  }
  return {
    code: grpc.status.UNAVAILABLE,
    message: `agent authentication failed: ${(e as Error).message}`,
    reason: 'auth_error',
  };
}

/** Undefined when the identity may announce this agent id and these hosts; else what is not allowed. */
export function checkAllowed(identity: AgentIdentity, agentID: string, ids: AgentIdentifiers): string | undefined {
  if (identity.allowedAgentIDs && !identity.allowedAgentIDs.includes(agentID)) {
    return `agent ID "${agentID}" is not allowed for identity "${identity.subject}"`;
  }
  if (identity.allowedHosts) {
    const allowed = identity.allowedHosts;
    const bad = ids.host.filter((h) => !allowed.includes(h));
    if (bad.length > 0) {
      return `host identifier${bad.length > 1 ? 's' : ''} ${bad.map((h) => `"${h}"`).join(', ')} not allowed for identity "${identity.subject}"`;
    }
  }
  return undefined;
}
