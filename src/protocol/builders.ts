/** Packet builders: every packet carries its submessage, even when empty (Go peers need it). */
import {
  type CloseReqPacket,
  type CloseRspPacket,
  type DataPacket,
  type DialClsPacket,
  type DialReqPacket,
  type DialRspPacket,
  type DrainPacket,
  PacketType,
} from './packet.js';

export function dialReq(address: string, random: bigint, protocol = 'tcp'): DialReqPacket {
  return { type: PacketType.DIAL_REQ, dialRequest: { protocol, address, random } };
}

export function dialRsp(random: bigint, connectID: bigint, error = ''): DialRspPacket {
  return { type: PacketType.DIAL_RSP, dialResponse: { error, connectID, random } };
}

export function dialRspError(random: bigint, error: string): DialRspPacket {
  return dialRsp(random, 0n, error);
}

export function data(connectID: bigint, bytes: Uint8Array): DataPacket {
  return { type: PacketType.DATA, data: { connectID, error: '', data: bytes } };
}

export function closeReq(connectID: bigint): CloseReqPacket {
  return { type: PacketType.CLOSE_REQ, closeRequest: { connectID } };
}

export function closeRsp(connectID: bigint, error = ''): CloseRspPacket {
  return { type: PacketType.CLOSE_RSP, closeResponse: { error, connectID } };
}

export function dialCls(random: bigint): DialClsPacket {
  return { type: PacketType.DIAL_CLS, closeDial: { random } };
}

export function drain(): DrainPacket {
  return { type: PacketType.DRAIN, drain: {} };
}
