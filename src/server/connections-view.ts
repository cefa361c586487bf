/**
 * The admin port's view of what the relay holds right now: dials waiting
 * for an agent's DIAL_RSP and established end-to-end connections. Plain
 * JSON-ready data; ids are decimal strings (they are int64 on the wire).
 */
import type { Clock } from './clock.js';
import type { Relay } from './relay.js';

/** A dial forwarded to an agent and not answered yet. */
export interface PendingDialView {
  /** The dial id (`random`) as a decimal string. */
  dialID: string;
  address: string;
  agentID: string;
  /** 'grpc' (ProxyService stream) or 'http' (HTTP CONNECT). */
  frontend: 'grpc' | 'http';
  /** The client, as the frontend saw it. */
  peer: string;
  waitingSeconds: number;
}

/** An established connection. */
export interface EstablishedView {
  agentID: string;
  /** The agent-assigned connection id as a decimal string. */
  connectID: string;
  address: string;
  frontend: 'grpc' | 'http';
  peer: string;
  openSeconds: number;
  /** True when the connection runs with per-connection credits (a flow-controlled agent stream). */
  flowControl: boolean;
  /** Agent→client bytes queued in the server for this connection (not yet handed to the client's transport). */
  queuedBytes: number;
  /** With flow control: our receive window for it now (the announced one, or more once grown). */
  flowWindowBytes?: number;
}

/** Both lists, as served on the admin port's /connections. */
export interface ConnectionsView {
  pendingDials: PendingDialView[];
  established: EstablishedView[];
}

/** Snapshot of the relay's pending dials and established connections. */
export function connectionsView(relay: Relay, clock: Clock): ConnectionsView {
  const now = clock.now();
  const secs = (since: number): number => Math.round((now - since) / 1000);
  const pendingDials: PendingDialView[] = [...relay.pending.values()].map((d) => ({
    dialID: d.random.toString(),
    address: d.address,
    agentID: d.backend.agentID,
    frontend: d.session.frontend.kind,
    peer: d.session.frontend.peer,
    waitingSeconds: secs(d.startedAt),
  }));
  const established: EstablishedView[] = [];
  for (const streams of relay.registry.byAgent().values()) {
    for (const b of streams) {
      for (const [connectID, s] of b.connections) {
        established.push({
          agentID: b.agentID,
          connectID: connectID.toString(),
          address: s.address ?? '',
          frontend: s.frontend.kind,
          peer: s.frontend.peer,
          openSeconds: secs(s.establishedAt ?? s.openedAt),
          flowControl: s.flow !== undefined,
          queuedBytes: s.outbox.queuedBytes,
          ...(s.flow ? { flowWindowBytes: s.flow.receiveWindow } : {}),
        });
      }
    }
  }
  return { pendingDials, established };
}
