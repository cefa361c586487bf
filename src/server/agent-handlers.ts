/**
 * Agent→server packets, one handler per packet type (anp-protocol.md
 * section 2). None of them waits: a slow client never holds up the agent
 * stream's read loop.
 */
import { closeReq, type Packet, PacketType, packetTypeName } from '../protocol/index.js';
import type { Backend } from './backend.js';
import { ServerError } from './errors.js';
import type { Relay } from './relay.js';

type Handler<T extends Packet['type']> = (r: Relay, b: Backend, p: Extract<Packet, { type: T }>) => void;

/** DIAL_RSP: complete the pending dial (only if it was sent to this stream) and forward it unchanged. */
const onDialRsp: Handler<typeof PacketType.DIAL_RSP> = (r, b, p) => {
  const { random, connectID, error } = p.dialResponse;
  const dial = r.pending.get(random);
  if (!dial || dial.backend !== b) {
    r.metrics.dialFailure('unrecognized_response');
    b.log.debug('DIAL_RSP for an unknown dial', { dialID: random, connectID });
    if (connectID !== 0n) b.send(closeReq(connectID));
    return;
  }
  const s = dial.session;
  r.removePending(dial);
  r.metrics.dialDuration.observe((r.clock.now() - dial.startedAt) / 1000);
  if (error !== '') {
    r.metrics.dialFailure('error_response');
    s.state = 'done';
    s.log.debug('agent failed the dial', { address: dial.address, error });
    r.deliver(s, p);
    return;
  }
  if (connectID === 0n || b.connections.has(connectID)) {
    // A broken agent: never hand one client another client's connection.
    r.metrics.badInput.inc({ source: 'agent', reason: 'duplicate_connect_id' });
    b.log.warn('agent answered a dial with a connection ID already in use', { peer: b.stream.peer, connectID });
    r.failDial(s, random, 'agent_error', `agent "${b.agentID}" answered with connection ID ${connectID}, which is already in use`);
    return;
  }
  r.establish(s, b, connectID);
  s.log.debug('connection established', { agentID: b.agentID, address: dial.address });
  r.deliver(s, p);
};

/**
 * DATA: route by (stream, connectID); unknown IDs get CLOSE_REQ back. On a
 * flow-controlled stream the bytes count against the connection's credit and
 * are granted back once handed to the client.
 */
const onData: Handler<typeof PacketType.DATA> = (r, b, p) => {
  const id = p.data.connectID;
  if (id === 0n) return;
  const s = b.connections.get(id);
  if (!s) {
    b.log.debug('DATA for an unknown connection', { connectID: id });
    b.send(closeReq(id));
    return;
  }
  const flow = s.flow;
  if (!flow) {
    r.deliver(s, p);
    return;
  }
  const n = p.data.data.length;
  if (!flow.received(n)) {
    r.metrics.badInput.inc({ source: 'agent', reason: 'flow_credit' });
    b.log.warn('agent sent more than its credit for a connection; closing it', { peer: b.stream.peer, connectID: id });
    r.abortSession(s, new ServerError('ERR_FLOW_CREDIT', `connection ${id} closed: the agent sent more data than its flow-control credit`));
    return;
  }
  r.deliver(s, p, () => flow.consumed(n));
};

/** CLOSE_RSP: the agent closed the connection; forget it and tell the client. */
const onCloseRsp: Handler<typeof PacketType.CLOSE_RSP> = (r, b, p) => {
  const s = b.connections.get(p.closeResponse.connectID);
  if (!s) {
    b.log.debug('CLOSE_RSP for an unknown connection', { connectID: p.closeResponse.connectID });
    return;
  }
  r.unestablish(s);
  b.closedByAgent(p.closeResponse.connectID);
  s.state = 'done';
  r.deliver(s, p);
};

/** DIAL_CLS: the agent gave up a dial; forward to its client. */
const onDialCls: Handler<typeof PacketType.DIAL_CLS> = (r, b, p) => {
  const dial = r.pending.get(p.closeDial.random);
  if (!dial || dial.backend !== b) return;
  r.removePending(dial);
  r.metrics.dialFailure('backend_close');
  dial.session.state = 'done';
  r.deliver(dial.session, p);
};

/** DRAIN: prefer other agents for new dials; existing connections continue. */
const onDrain: Handler<typeof PacketType.DRAIN> = (r, b) => {
  if (b.draining) return;
  b.draining = true;
  r.registry.changed();
  b.log.info('agent is draining', { peer: b.stream.peer });
};

/** DIAL_REQ and CLOSE_REQ are client packets: counted and ignored. */
const onWrongDirection = (r: Relay, b: Backend, p: Packet): void => {
  r.metrics.badInput.inc({ source: 'agent', reason: 'unexpected_packet' });
  b.log.warn('ignoring packet an agent must not send', { peer: b.stream.peer, packetType: packetTypeName(p.type) });
};

const TABLE: { [T in Packet['type']]: Handler<T> } = {
  [PacketType.DIAL_REQ]: onWrongDirection,
  [PacketType.DIAL_RSP]: onDialRsp,
  [PacketType.CLOSE_REQ]: onWrongDirection,
  [PacketType.CLOSE_RSP]: onCloseRsp,
  [PacketType.DATA]: onData,
  [PacketType.DIAL_CLS]: onDialCls,
  [PacketType.DRAIN]: onDrain,
};

/** Dispatches one agent packet. */
export function handleAgentPacket(r: Relay, b: Backend, p: Packet): void {
  if (r.debug) b.log.debug('packet from agent', { packetType: packetTypeName(p.type) });
  (TABLE[p.type] as Handler<Packet['type']>)(r, b, p as never);
}
