/**
 * Client→server packets, one handler per packet type (anp-protocol.md
 * section 2). A session carries one dial; a client may only touch the
 * connection its own dial established.
 */
import {
  closeReq,
  closeRsp,
  dialCls,
  type Packet,
  PacketType,
  packetTypeName,
  TEXT,
} from '../protocol/index.js';
import type { ServerError } from './errors.js';
import { sendClientData } from './flow-send.js';
import type { Relay } from './relay.js';
import type { ClientSession } from './session.js';

type Handler<T extends Packet['type']> = (
  r: Relay,
  s: ClientSession,
  p: Extract<Packet, { type: T }>,
) => void | Promise<void>;

/** DIAL_REQ: pick an agent, record the pending dial, forward the same packet. */
const onDialReq: Handler<typeof PacketType.DIAL_REQ> = async (r, s, p) => {
  if (s.state !== 'new') {
    r.refuseClient(s, 'second_dial', 'a Proxy stream carries a single dial: second DIAL_REQ refused');
    return;
  }
  const { random, address } = p.dialRequest;
  s.random = random;
  s.address = address;
  s.log = s.log.child({ dialID: random });
  if (r.pending.has(random)) {
    r.metrics.badInput.inc({ source: s.frontend.kind === 'grpc' ? 'client' : 'http', reason: 'dial_id_in_use' });
    r.failDial(s, random, 'dial_id_in_use', `dial id ${random} is already in use by a pending dial; pick another random`);
    return;
  }
  let backend;
  try {
    backend = r.registry.pick(address);
  } catch (e) {
    const err = e as ServerError;
    if (err.code === 'ERR_NO_AGENT') {
      r.metrics.dialFailure('no_agent');
      r.failDial(s, random, 'no_agent', TEXT.noAgent);
    } else {
      r.failDial(s, random, 'bad_request', err.message);
    }
    s.log.info('dial refused', { address, error: err.message });
    return;
  }
  await r.startDial(s, backend, p);
};

/** DATA: forward to the agent chosen at dial time, for the session's own connection only. */
const onData: Handler<typeof PacketType.DATA> = (r, s, p) => {
  const id = p.data.connectID;
  if (id === 0n) return undefined;
  if (s.state === 'established' && id === s.connectID) {
    // The caller waits (stops reading its client) while the agent stream is full or the connection has no credit.
    return sendClientData(s, s.backend!, p);
  }
  if (s.state === 'dialing' || ((s.state === 'established' || s.state === 'closing') && id !== s.connectID)) {
    mismatch(r, s, id);
  }
  // closing (same id) or done: the connection is going away; drop.
  return undefined;
};

/** CLOSE_REQ: forward to the agent; without a connection, answer "backend uninitialized". */
const onCloseReq: Handler<typeof PacketType.CLOSE_REQ> = async (r, s, p) => {
  const id = p.closeRequest.connectID;
  if (s.state === 'established') {
    if (id !== s.connectID) {
      mismatch(r, s, id);
      return;
    }
    const b = s.backend!;
    s.state = 'closing';
    if (b.stream.closed) {
      r.unestablish(s);
      s.state = 'done';
      r.deliver(s, closeRsp(id, TEXT.closeReqFailed));
      return;
    }
    if (!b.send(p)) await b.drained();
    return;
  }
  if (s.state === 'closing') return;
  // No connection yet (or any more): cancel a pending dial, then answer as upstream does.
  r.releaseAtAgent(s, 'frontend_close');
  r.deliver(s, closeRsp(id, TEXT.backendUninitialized));
};

/** DIAL_CLS: the client gave up on its dial; tell the agent so it can cancel (upstream agents ignore it). */
const onDialCls: Handler<typeof PacketType.DIAL_CLS> = (r, s, p) => {
  if (p.closeDial.random !== s.random) return;
  // Dialing: cancel at the agent. Established already (the DIAL_RSP crossed the
  // DIAL_CLS, upstream #404): close the connection instead of leaking it.
  r.releaseAtAgent(s, 'frontend_close');
};

/** Packets only an agent sends (DIAL_RSP, CLOSE_RSP, DRAIN): logged, counted, ignored. */
const onWrongDirection = (r: Relay, s: ClientSession, p: Packet): void => {
  r.metrics.badInput.inc({ source: 'client', reason: 'unexpected_packet' });
  s.log.warn('ignoring packet a client must not send', { peer: s.frontend.peer, packetType: packetTypeName(p.type) });
};

/**
 * The client used a connection ID that is not its own: close its own
 * connection (or cancel its dial), close the other ID at the agent unless
 * another client owns it, and answer CLOSE_RSP "mismatched connection IDs".
 */
function mismatch(r: Relay, s: ClientSession, other: bigint): void {
  r.metrics.badInput.inc({ source: s.frontend.kind === 'grpc' ? 'client' : 'http', reason: 'mismatched_connect_id' });
  s.log.warn('client used a connection ID that is not its own', { peer: s.frontend.peer, otherConnectID: other });
  const b = s.backend;
  const own = s.connectID;
  if (s.dial) {
    const random = s.dial.random;
    r.removePending(s.dial);
    b?.send(dialCls(random));
  } else if (b && own !== undefined) {
    const wasOpen = s.state === 'established';
    r.unestablish(s);
    if (wasOpen) b.send(closeReq(own));
  }
  if (b && b.connections.get(other) === undefined) b.send(closeReq(other));
  s.state = 'done';
  r.deliver(s, closeRsp(own ?? other, TEXT.mismatchedIDs));
}

const TABLE: { [T in Packet['type']]: Handler<T> } = {
  [PacketType.DIAL_REQ]: onDialReq,
  [PacketType.DIAL_RSP]: onWrongDirection,
  [PacketType.CLOSE_REQ]: onCloseReq,
  [PacketType.CLOSE_RSP]: onWrongDirection,
  [PacketType.DATA]: onData,
  [PacketType.DIAL_CLS]: onDialCls,
  [PacketType.DRAIN]: onWrongDirection,
};

/** Dispatches a client packet; the first one must be DIAL_REQ. */
export function handleClientPacket(r: Relay, s: ClientSession, p: Packet): void | Promise<void> {
  if (r.debug) s.log.debug('packet from client', { packetType: packetTypeName(p.type) });
  if (s.state === 'new' && p.type !== PacketType.DIAL_REQ) {
    r.refuseClient(s, 'first_packet', `the first packet on a stream must be DIAL_REQ, got ${packetTypeName(p.type)}`);
    return;
  }
  // A finished session still answers CLOSE_REQ (a client closing waits for
  // CLOSE_RSP); everything else but a second DIAL_REQ is dropped.
  if (s.state === 'done' && p.type !== PacketType.DIAL_REQ && p.type !== PacketType.CLOSE_REQ) return;
  const h = TABLE[p.type] as Handler<Packet['type']>;
  return h(r, s, p as never);
}
