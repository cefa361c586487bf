import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fixture } from '../../support/paths.js';
import {
  closeRsp,
  data,
  dataHead,
  decodePacket,
  dialRsp,
  encodePacket,
  type Packet,
  PacketType,
  ProtocolError,
} from '../../../src/protocol/index.js';
import { frameMessage, GrpcMessageReader, isContinuation } from '../../../src/transport/grpc-messages.js';

const MAX = 4 << 20;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random numbers (so a failure can be replayed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function bytes(n: number, salt: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

/** Splits `buf` at random places into chunks of 1 byte to `max` bytes, each in a buffer of its own. */
function chop(buf: Buffer, rand: () => number, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const n = Math.min(buf.length - off, 1 + Math.floor(rand() * max));
    out.push(Buffer.from(buf.subarray(off, off + n)));
    off += n;
  }
  return out;
}

function readAll(chunks: Buffer[], max = MAX): Packet[] {
  const r = new GrpcMessageReader(max);
  const out: Packet[] = [];
  for (const c of chunks) r.push(c, out);
  r.end();
  return out;
}

/** What a connection sees: control packets as they are, DATA payloads joined per run of DATA on one connection. */
function view(packets: Packet[]): unknown[] {
  const out: unknown[] = [];
  for (const p of packets) {
    const last = out[out.length - 1] as { connectID: bigint; error: string; bytes: Buffer[] } | undefined;
    if (p.type === PacketType.DATA && isContinuation(p)) {
      expect(last?.connectID).toBe(p.data.connectID);
      last!.bytes.push(Buffer.from(p.data.data));
    } else if (p.type === PacketType.DATA) {
      out.push({ connectID: p.data.connectID, error: p.data.error, bytes: [Buffer.from(p.data.data)] });
    } else out.push(p);
  }
  return out.map((x) => ((x as { bytes?: Buffer[] }).bytes ? { ...(x as object), bytes: sha256(Buffer.concat((x as { bytes: Buffer[] }).bytes)) } : x));
}

const stream: Packet[] = [
  dialRsp(7n, 3n, ''),
  data(3n, bytes(10, 1)),
  data(3n, bytes(64 * 1024, 2)),
  data(2n ** 62n, bytes(200 * 1024, 3)),
  { type: PacketType.DATA, data: { connectID: 3n, error: 'read failed', data: bytes(40 * 1024, 4) } },
  data(0n, bytes(30 * 1024, 5)),
  data(3n, bytes(1, 6)),
  closeRsp(3n, ''),
];

describe('gRPC message framing without grpc-js', () => {
  it('frames a packet as the 5-byte prefix (uncompressed, big-endian length) and its protobuf bytes', () => {
    for (const p of stream) {
      const body = encodePacket(p);
      const framed = frameMessage(p);
      expect(framed.subarray(0, 5).toString('hex')).toBe('00' + body.length.toString(16).padStart(8, '0'));
      expect(framed.subarray(5).equals(body)).toBe(true);
    }
  });

  it('reads back the same packets and the same bytes per connection, however the body is cut into chunks', () => {
    const body = Buffer.concat(stream.map(frameMessage));
    const want = view(stream);
    const rand = rng(42);
    for (let i = 0; i < 150; i++) {
      const max = [1, 7, 100, 16 * 1024, 64 * 1024][i % 5]!;
      expect(view(readAll(chop(body, rand, max)))).toEqual(want);
    }
  });

  it('passes a DATA payload on as views of the chunks it arrived in (no copy), in pieces of one connection', () => {
    const big = data(5n, bytes(64 * 1024, 9));
    const chunks = chop(frameMessage(big), rng(1), 16 * 1024);
    const got = readAll(chunks);
    expect(got.length).toBeGreaterThan(1);
    expect(got.filter((p) => !isContinuation(p))).toHaveLength(1);
    for (const p of got) {
      expect(p.type).toBe(PacketType.DATA);
      if (p.type !== PacketType.DATA) continue;
      expect(p.data.connectID).toBe(5n);
      expect(chunks.some((c) => c.buffer === p.data.data.buffer)).toBe(true);
    }
  });

  it('decodes every upstream test vector, also when it arrives one byte at a time', () => {
    const vectors = (JSON.parse(readFileSync(fixture('packet-vectors.json'), 'utf8')) as { vectors: { hex: string }[] }).vectors;
    for (const v of vectors) {
      const msg = Buffer.from(v.hex, 'hex');
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(msg.length, 1);
      const framed = Buffer.concat([prefix, msg]);
      const want = view([decodePacket(msg)]);
      expect(view(readAll([framed]))).toEqual(want);
      expect(view(readAll(chop(framed, rng(3), 1)))).toEqual(want);
    }
  });

  it('finds where a DATA payload starts only when it runs to the end of the message', () => {
    const msg = encodePacket(data(300n, bytes(1000, 1)));
    expect(dataHead(msg, 0, 40, msg.length)).toEqual({ connectID: 300n, headLength: msg.length - 1000 });
    expect(dataHead(msg, 0, 3, msg.length)).toBeUndefined(); // not all of the head is here yet
    const withError = encodePacket({ type: PacketType.DATA, data: { connectID: 1n, error: 'x', data: bytes(100, 1) } });
    expect(dataHead(withError, 0, withError.length, withError.length)).toBeUndefined();
    // Payload first, connectID after it (legal protobuf, nobody encodes it so): decoded whole instead.
    const payload = bytes(50, 2);
    const sub = Buffer.concat([Buffer.from([0x1a, payload.length]), payload, Buffer.from([0x08, 0x09])]);
    const reordered = Buffer.concat([Buffer.from([0x08, 0x04, 0x22, sub.length]), sub]);
    expect(dataHead(reordered, 0, reordered.length, reordered.length)).toBeUndefined();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(reordered.length, 1);
    const got = readAll(chop(Buffer.concat([prefix, reordered]), rng(5), 8));
    expect(view(got)).toEqual([{ connectID: 9n, error: '', bytes: sha256(payload) }]);
  });

  it('refuses compressed messages, messages over the limit and a body that ends inside a message', () => {
    const p = frameMessage(data(1n, bytes(100, 1)));
    const compressed = Buffer.from(p);
    compressed[0] = 1;
    expect(() => readAll([compressed])).toThrow(/compressed gRPC message, but no compression was negotiated/);
    let tooLarge: unknown;
    try {
      readAll([p], 50);
    } catch (e) {
      tooLarge = e;
    }
    expect(tooLarge).toBeInstanceOf(ProtocolError);
    expect((tooLarge as ProtocolError).code).toBe('ERR_PACKET_TOO_LARGE');
    expect(() => readAll([p.subarray(0, 60)])).toThrow(/ended inside a gRPC message/);
    expect(() => readAll([p.subarray(0, 3)])).toThrow(/ended inside a gRPC message/);
  });

  it('keeps the packets before a malformed message and then throws a ProtocolError', () => {
    const good = frameMessage(dialRsp(1n, 2n, ''));
    const bad = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x63]); // packet type 99
    const r = new GrpcMessageReader(MAX);
    const out: Packet[] = [];
    expect(() => r.push(Buffer.concat([good, bad]), out)).toThrow(ProtocolError);
    expect(out).toHaveLength(1);
    expect(out[0]!.type).toBe(PacketType.DIAL_RSP);
  });
});
