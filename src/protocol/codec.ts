/**
 * Hand-written proto3 codec for the konnectivity `Packet` message.
 *
 * Why not protobufjs: DATA is the hot path, and a codec that knows the one
 * message can size the output once, decode `data` as a view of the input
 * (no copy), and keep int64 ids as exact bigints. The layout is checked
 * against proto/client/client.proto and against protobufjs output by tests.
 *
 * Encoding follows protobufjs (the `type` field is always written, `08 00`
 * for DIAL_REQ); decoding also accepts Go's form where `type` 0 is omitted.
 * Unknown fields are skipped, as proto3 requires.
 */
import { ProtocolError } from './errors.js';
import { type Packet, PacketType } from './packet.js';

/** Field numbers of Packet's oneof `payload`, by packet type. */
export const PAYLOAD_FIELD: Record<PacketType, number> = {
  [PacketType.DIAL_REQ]: 2,
  [PacketType.DIAL_RSP]: 3,
  [PacketType.DATA]: 4,
  [PacketType.CLOSE_REQ]: 5,
  [PacketType.CLOSE_RSP]: 6,
  [PacketType.DIAL_CLS]: 7,
  [PacketType.DRAIN]: 8,
};

const PAYLOAD_NAME: Record<number, string> = {
  2: 'dialRequest',
  3: 'dialResponse',
  4: 'data',
  5: 'closeRequest',
  6: 'closeResponse',
  7: 'closeDial',
  8: 'drain',
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

// ---------------------------------------------------------------- sizes

function varint32Size(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

const TWO_POW_28 = 1n << 28n;

function varint64Size(v: bigint): number {
  if (v >= 0n && v < TWO_POW_28) return varint32Size(Number(v));
  let u = BigInt.asUintN(64, v);
  let n = 0;
  do {
    n++;
    u >>= 7n;
  } while (u > 0n);
  return n;
}

function strField(tagSize: number, byteLen: number): number {
  return byteLen === 0 ? 0 : tagSize + varint32Size(byteLen) + byteLen;
}

function i64Field(v: bigint): number {
  return v === 0n ? 0 : 1 + varint64Size(v);
}

// ---------------------------------------------------------------- writer

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint32(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  varint64(v: bigint): void {
    if (v >= 0n && v < TWO_POW_28) {
      this.varint32(Number(v));
      return;
    }
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  i64Field(field: number, v: bigint): void {
    if (v === 0n) return;
    this.byte((field << 3) | WIRE_VARINT);
    this.varint64(v);
  }

  strField(field: number, s: string, byteLen: number): void {
    if (byteLen === 0) return;
    this.byte((field << 3) | WIRE_LEN);
    this.varint32(byteLen);
    this.pos += this.buf.write(s, this.pos, byteLen, 'utf8');
  }

  bytesField(field: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.byte((field << 3) | WIRE_LEN);
    this.varint32(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

// ---------------------------------------------------------------- encode

/** The bytes DATA packets were decoded from (see wireBytes). */
const DECODED_FROM = new WeakMap<Packet, Buffer>();

/**
 * The bytes to send for `p`: the very bytes it was decoded from, for a DATA
 * packet forwarded unchanged (the relay does that for every DATA, and this
 * spares copying the payload into a new message), else encodePacket(p).
 */
export function wireBytes(p: Packet): Buffer {
  return DECODED_FROM.get(p) ?? encodePacket(p);
}

/**
 * Encodes a packet to its protobuf bytes. With `room`, that many bytes are
 * left free in front of them (for a gRPC message prefix, see
 * transport/grpc-messages.ts), so framing needs no second copy.
 */
export function encodePacket(p: Packet, room = 0): Buffer {
  let bodySize: number;
  let s1 = 0;
  let s2 = 0;
  switch (p.type) {
    case PacketType.DIAL_REQ:
      s1 = Buffer.byteLength(p.dialRequest.protocol);
      s2 = Buffer.byteLength(p.dialRequest.address);
      bodySize = strField(1, s1) + strField(1, s2) + i64Field(p.dialRequest.random);
      break;
    case PacketType.DIAL_RSP:
      s1 = Buffer.byteLength(p.dialResponse.error);
      bodySize = strField(1, s1) + i64Field(p.dialResponse.connectID) + i64Field(p.dialResponse.random);
      break;
    case PacketType.CLOSE_REQ:
      bodySize = i64Field(p.closeRequest.connectID);
      break;
    case PacketType.CLOSE_RSP:
      s1 = Buffer.byteLength(p.closeResponse.error);
      bodySize = strField(1, s1) + i64Field(p.closeResponse.connectID);
      break;
    case PacketType.DATA:
      s1 = Buffer.byteLength(p.data.error);
      bodySize =
        i64Field(p.data.connectID) +
        strField(1, s1) +
        (p.data.data.length === 0 ? 0 : 1 + varint32Size(p.data.data.length) + p.data.data.length);
      break;
    case PacketType.DIAL_CLS:
      bodySize = i64Field(p.closeDial.random);
      break;
    case PacketType.DRAIN:
      bodySize = 0;
      break;
    default:
      throw new ProtocolError('ERR_UNKNOWN_PACKET_TYPE', `cannot encode packet type ${(p as { type: number }).type}`);
  }
  const total = room + 2 + 1 + varint32Size(bodySize) + bodySize;
  const w = new Writer(Buffer.allocUnsafe(total));
  w.pos = room;
  w.byte((1 << 3) | WIRE_VARINT);
  w.byte(p.type);
  w.byte((PAYLOAD_FIELD[p.type] << 3) | WIRE_LEN);
  w.varint32(bodySize);
  switch (p.type) {
    case PacketType.DIAL_REQ:
      w.strField(1, p.dialRequest.protocol, s1);
      w.strField(2, p.dialRequest.address, s2);
      w.i64Field(3, p.dialRequest.random);
      break;
    case PacketType.DIAL_RSP:
      w.strField(1, p.dialResponse.error, s1);
      w.i64Field(2, p.dialResponse.connectID);
      w.i64Field(3, p.dialResponse.random);
      break;
    case PacketType.CLOSE_REQ:
      w.i64Field(1, p.closeRequest.connectID);
      break;
    case PacketType.CLOSE_RSP:
      w.strField(1, p.closeResponse.error, s1);
      w.i64Field(2, p.closeResponse.connectID);
      break;
    case PacketType.DATA:
      w.i64Field(1, p.data.connectID);
      w.strField(2, p.data.error, s1);
      w.bytesField(3, p.data.data);
      break;
    case PacketType.DIAL_CLS:
      w.i64Field(1, p.closeDial.random);
      break;
    case PacketType.DRAIN:
      break;
  }
  if (w.pos !== total) {
    throw new Error(`codec size mismatch: wrote ${w.pos} of ${total} bytes`);
  }
  return w.buf;
}

// ---------------------------------------------------------------- reader

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  private fail(what: string): never {
    throw new ProtocolError('ERR_MALFORMED_PACKET', `malformed packet: ${what} at byte ${this.pos}`);
  }

  varint32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) return result >>> 0;
      shift += 7;
    }
    return this.fail('varint longer than 10 bytes');
  }

  varint64(): bigint {
    const start = this.pos;
    // Fast path: one to four bytes hold up to 28 bits.
    let small = 0;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      small |= (b & 0x7f) << (7 * i);
      if (b < 0x80) return BigInt(small);
    }
    this.pos = start;
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, v);
      shift += 7n;
    }
    return this.fail('varint longer than 10 bytes');
  }

  lengthDelimited(): [number, number] {
    const len = this.varint32();
    const start = this.pos;
    if (len > this.end - start) this.fail(`length ${len} past the end of the message`);
    this.pos = start + len;
    return [start, start + len];
  }

  string(): string {
    const [s, e] = this.lengthDelimited();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + s, e - s).toString('utf8');
  }

  bytes(): Uint8Array {
    const [s, e] = this.lengthDelimited();
    return this.buf.subarray(s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.end - this.pos < 8) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        if (this.end - this.pos < 4) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
  }

  /** Reads a tag; returns [field, wireType]. */
  tag(): [number, number] {
    const t = this.varint32();
    const field = t >>> 3;
    if (field === 0) this.fail('field number 0');
    return [field, t & 7];
  }

  expect(wireType: number, got: number, field: string): void {
    if (wireType !== got) this.fail(`field ${field} has wire type ${got}, expected ${wireType}`);
  }
}

function eachField(r: Reader, on: (field: number, wireType: number) => boolean): void {
  while (r.pos < r.end) {
    const [field, wt] = r.tag();
    if (!on(field, wt)) r.skip(wt);
  }
}

// ---------------------------------------------------------------- decode

/**
 * Decodes a packet and checks that it carries the submessage its type
 * names. Throws ProtocolError on anything malformed.
 */
export function decodePacket(buf: Uint8Array): Packet {
  const r = new Reader(buf, 0, buf.length);
  let type = 0;
  let payloadField = 0;
  let ps = 0;
  let pe = 0;
  eachField(r, (field, wt) => {
    if (field === 1) {
      r.expect(WIRE_VARINT, wt, 'type');
      type = r.varint32();
      return true;
    }
    if (field >= 2 && field <= 8) {
      r.expect(WIRE_LEN, wt, PAYLOAD_NAME[field]!);
      [ps, pe] = r.lengthDelimited();
      payloadField = field;
      return true;
    }
    return false;
  });
  if (type > PacketType.DRAIN) {
    throw new ProtocolError('ERR_UNKNOWN_PACKET_TYPE', `unknown packet type ${type}`);
  }
  const t = type as PacketType;
  const want = PAYLOAD_FIELD[t];
  if (payloadField !== want) {
    const got = payloadField === 0 ? 'no payload' : PAYLOAD_NAME[payloadField];
    throw new ProtocolError(
      'ERR_MISSING_PAYLOAD',
      `packet of type ${t} must carry ${PAYLOAD_NAME[want]}, got ${got}`,
    );
  }
  const s = new Reader(buf, ps, pe);
  switch (t) {
    case PacketType.DIAL_REQ: {
      const m = { protocol: '', address: '', random: 0n };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_LEN, wt, 'protocol'), (m.protocol = s.string()));
        else if (f === 2) (s.expect(WIRE_LEN, wt, 'address'), (m.address = s.string()));
        else if (f === 3) (s.expect(WIRE_VARINT, wt, 'random'), (m.random = s.varint64()));
        else return false;
        return true;
      });
      return { type: t, dialRequest: m };
    }
    case PacketType.DIAL_RSP: {
      const m = { error: '', connectID: 0n, random: 0n };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_LEN, wt, 'error'), (m.error = s.string()));
        else if (f === 2) (s.expect(WIRE_VARINT, wt, 'connectID'), (m.connectID = s.varint64()));
        else if (f === 3) (s.expect(WIRE_VARINT, wt, 'random'), (m.random = s.varint64()));
        else return false;
        return true;
      });
      return { type: t, dialResponse: m };
    }
    case PacketType.CLOSE_REQ: {
      const m = { connectID: 0n };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_VARINT, wt, 'connectID'), (m.connectID = s.varint64()));
        else return false;
        return true;
      });
      return { type: t, closeRequest: m };
    }
    case PacketType.CLOSE_RSP: {
      const m = { error: '', connectID: 0n };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_LEN, wt, 'error'), (m.error = s.string()));
        else if (f === 2) (s.expect(WIRE_VARINT, wt, 'connectID'), (m.connectID = s.varint64()));
        else return false;
        return true;
      });
      return { type: t, closeResponse: m };
    }
    case PacketType.DATA: {
      const m: { connectID: bigint; error: string; data: Uint8Array } = { connectID: 0n, error: "", data: EMPTY };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_VARINT, wt, 'connectID'), (m.connectID = s.varint64()));
        else if (f === 2) (s.expect(WIRE_LEN, wt, 'error'), (m.error = s.string()));
        else if (f === 3) (s.expect(WIRE_LEN, wt, 'data'), (m.data = s.bytes()));
        else return false;
        return true;
      });
      const packet: Packet = { type: t, data: m };
      if (Buffer.isBuffer(buf)) DECODED_FROM.set(packet, buf);
      return packet;
    }
    case PacketType.DIAL_CLS: {
      const m = { random: 0n };
      eachField(s, (f, wt) => {
        if (f === 1) (s.expect(WIRE_VARINT, wt, 'random'), (m.random = s.varint64()));
        else return false;
        return true;
      });
      return { type: t, closeDial: m };
    }
    case PacketType.DRAIN:
      eachField(s, () => false);
      return { type: t, drain: {} };
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** Where the payload of a DATA message starts, and the connection it is for. */
export interface DataHead {
  connectID: bigint;
  /** Bytes from the start of the message to the first payload byte. */
  headLength: number;
}

/**
 * Reads the start of a message of `messageLength` bytes whose first bytes are
 * `buf[start, end)`: if it is a DATA packet whose payload runs to the end of
 * the message (how every encoder, ours and Go's, lays DATA out: fields in
 * order, payload last) and the bytes before the payload are all here, says
 * where the payload starts, so a reader can pass the payload on in pieces as
 * it arrives instead of collecting the whole message first. Anything else
 * (another packet type, an error text, unusual field order, too few bytes,
 * malformed) gives undefined: decode the whole message with decodePacket,
 * which also reports what is wrong.
 */
export function dataHead(buf: Uint8Array, start: number, end: number, messageLength: number): DataHead | undefined {
  const r = new Reader(buf, start, end);
  try {
    if (r.varint32() !== ((1 << 3) | WIRE_VARINT) || r.varint32() !== PacketType.DATA) return undefined;
    if (r.varint32() !== ((PAYLOAD_FIELD[PacketType.DATA] << 3) | WIRE_LEN)) return undefined;
    const bodyLength = r.varint32();
    if (r.pos - start + bodyLength !== messageLength) return undefined;
    let connectID = 0n;
    let tag = r.varint32();
    if (tag === ((1 << 3) | WIRE_VARINT)) {
      connectID = r.varint64();
      tag = r.varint32();
    }
    if (tag !== ((3 << 3) | WIRE_LEN)) return undefined;
    const dataLength = r.varint32();
    if (dataLength === 0 || r.pos - start + dataLength !== messageLength) return undefined;
    return { connectID, headLength: r.pos - start };
  } catch {
    return undefined; // too few bytes here, or malformed: the caller decodes the whole message
  }
}
