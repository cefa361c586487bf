/**
 * Typed view of the konnectivity `Packet` message (proto/client/client.proto).
 *
 * int64 fields are `bigint`: upstream Go clients draw 63-bit dial ids, which a
 * JS number cannot hold exactly. The field numbers live in codec.ts and are
 * checked against the .proto file by test/unit/protocol/proto-drift.test.ts.
 */

export const PacketType = {
  DIAL_REQ: 0,
  DIAL_RSP: 1,
  CLOSE_REQ: 2,
  CLOSE_RSP: 3,
  DATA: 4,
  DIAL_CLS: 5,
  DRAIN: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const PACKET_TYPE_NAMES: Record<PacketType, string> = {
  0: 'DIAL_REQ',
  1: 'DIAL_RSP',
  2: 'CLOSE_REQ',
  3: 'CLOSE_RSP',
  4: 'DATA',
  5: 'DIAL_CLS',
  6: 'DRAIN',
};

export interface DialRequest {
  protocol: string;
  address: string;
  random: bigint;
}

export interface DialResponse {
  error: string;
  connectID: bigint;
  random: bigint;
}

export interface CloseRequest {
  connectID: bigint;
}

export interface CloseResponse {
  error: string;
  connectID: bigint;
}

export interface CloseDial {
  random: bigint;
}

export type Drain = Record<string, never>;

export interface Data {
  connectID: bigint;
  error: string;
  data: Uint8Array;
}

/** A packet whose `type` matches the submessage it carries. */
export type Packet =
  | { type: typeof PacketType.DIAL_REQ; dialRequest: DialRequest }
  | { type: typeof PacketType.DIAL_RSP; dialResponse: DialResponse }
  | { type: typeof PacketType.CLOSE_REQ; closeRequest: CloseRequest }
  | { type: typeof PacketType.CLOSE_RSP; closeResponse: CloseResponse }
  | { type: typeof PacketType.DATA; data: Data }
  | { type: typeof PacketType.DIAL_CLS; closeDial: CloseDial }
  | { type: typeof PacketType.DRAIN; drain: Drain };

export type DialReqPacket = Extract<Packet, { type: 0 }>;
export type DialRspPacket = Extract<Packet, { type: 1 }>;
export type CloseReqPacket = Extract<Packet, { type: 2 }>;
export type CloseRspPacket = Extract<Packet, { type: 3 }>;
export type DataPacket = Extract<Packet, { type: 4 }>;
export type DialClsPacket = Extract<Packet, { type: 5 }>;
export type DrainPacket = Extract<Packet, { type: 6 }>;

export function packetTypeName(type: number): string {
  return PACKET_TYPE_NAMES[type as PacketType] ?? `UNKNOWN(${type})`;
}
