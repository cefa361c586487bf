/**
 * One handler per packet type a server may send on Connect, picked from a
 * table. Handlers never block: dials run asynchronously and DATA is queued
 * per connection, so one slow destination never stalls the stream.
 */
import { closeRsp, type Packet, PacketType, packetTypeName, TEXT } from '../protocol/index.js';
import { cancelDial, startDial } from './dial.js';
import type { SessionContext } from './session-context.js';

type HandlerTable = { [T in PacketType]: (ctx: SessionContext, p: Extract<Packet, { type: T }>) => void };

/** The packet handlers of a server stream, by packet type. */
export const PACKET_HANDLERS: HandlerTable = {
  [PacketType.DIAL_REQ]: (ctx, p) => startDial(ctx, p.dialRequest),

  [PacketType.DATA]: (ctx, p) => {
    const id = p.data.connectID;
    if (id === 0n) {
      ctx.badInput('zero_connect_id', { type: 'DATA' });
      return;
    }
    const conn = ctx.conns.get(id);
    if (!conn) {
      ctx.badInput('unknown_connect_id', { type: 'DATA', connectID: id });
      ctx.send(closeRsp(id, TEXT.unrecognizedConnectID));
      return;
    }
    conn.writeFromServer(p.data.data);
  },

  [PacketType.CLOSE_REQ]: (ctx, p) => {
    const id = p.closeRequest.connectID;
    const conn = ctx.conns.get(id);
    if (!conn) {
      ctx.badInput('unknown_connect_id', { type: 'CLOSE_REQ', connectID: id });
      ctx.send(closeRsp(id, TEXT.unrecognizedConnectID));
      return;
    }
    conn.closeByServer();
  },

  [PacketType.DIAL_CLS]: (ctx, p) => cancelDial(ctx, p.closeDial.random),

  // Packets only an agent sends: a server has no business sending them.
  [PacketType.DIAL_RSP]: (ctx, p) => unexpected(ctx, p),
  [PacketType.CLOSE_RSP]: (ctx, p) => unexpected(ctx, p),
  [PacketType.DRAIN]: (ctx, p) => unexpected(ctx, p),
};

/** Runs the handler of p's type; a type without one is counted and ignored. */
export function dispatchPacket(ctx: SessionContext, p: Packet): void {
  const handler = (PACKET_HANDLERS as Record<number, ((c: SessionContext, q: Packet) => void) | undefined>)[p.type];
  if (handler) handler(ctx, p);
  else unexpected(ctx, p);
}

function unexpected(ctx: SessionContext, p: Packet): void {
  ctx.badInput('unexpected_packet_type', { type: packetTypeName(p.type) });
}
