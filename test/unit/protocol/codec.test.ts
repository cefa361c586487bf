import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fixture } from '../../support/paths.js';
import {
  closeReq,
  closeRsp,
  data,
  decodePacket,
  dialCls,
  dialReq,
  dialRsp,
  drain,
  encodePacket,
  type Packet,
  PacketType,
  ProtocolError,
} from '../../../src/protocol/index.js';

interface Vector {
  name: string;
  packet: Record<string, unknown> & { type: number };
  hex: string;
}

const vectors = (
  JSON.parse(
    readFileSync(fixture('packet-vectors.json'), 'utf8'),
  ) as { vectors: Vector[] }
).vectors;

/** Builds our typed packet from a vector's JSON form (int64 as decimal strings, bytes as base64). */
function fromJson(v: Vector['packet']): Packet {
  const big = (x: unknown): bigint => BigInt((x as string | undefined) ?? '0');
  const str = (x: unknown): string => (x as string | undefined) ?? '';
  const m = (k: string): Record<string, unknown> => (v[k] ?? {}) as Record<string, unknown>;
  switch (v.type) {
    case 0:
      return dialReq(str(m('dialRequest').address), big(m('dialRequest').random), str(m('dialRequest').protocol));
    case 1:
      return dialRsp(big(m('dialResponse').random), big(m('dialResponse').connectID), str(m('dialResponse').error));
    case 2:
      return closeReq(big(m('closeRequest').connectID));
    case 3:
      return closeRsp(big(m('closeResponse').connectID), str(m('closeResponse').error));
    case 4:
      return data(big(m('data').connectID), Buffer.from(str(m('data').data), 'base64'));
    case 5:
      return dialCls(big(m('closeDial').random));
    default:
      return drain();
  }
}

function normalise(p: Packet): unknown {
  return JSON.parse(
    JSON.stringify(p, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    ),
  );
}

describe('packet codec', () => {
  it('has the byte vectors of the protocol document', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(11);
  });

  for (const v of vectors) {
    it(`decodes vector ${v.name} to the documented packet`, () => {
      const got = decodePacket(Buffer.from(v.hex, 'hex'));
      expect(normalise(got)).toEqual(normalise(fromJson(v.packet)));
    });
    if (!v.name.includes('omitted')) {
      it(`encodes vector ${v.name} byte-for-byte`, () => {
        expect(encodePacket(fromJson(v.packet)).toString('hex')).toBe(v.hex);
      });
    }
  }

  it('keeps 63-bit random ids exact (2^63-1)', () => {
    const max = (1n << 63n) - 1n;
    const p = decodePacket(encodePacket(dialReq('cls-abc:6443', max)));
    expect(p.type).toBe(PacketType.DIAL_REQ);
    if (p.type === PacketType.DIAL_REQ) expect(p.dialRequest.random).toBe(max);
  });

  it('round-trips negative and boundary int64 ids', () => {
    for (const id of [1n, 127n, 128n, (1n << 28n) - 1n, 1n << 28n, (1n << 53n) + 1n, -1n, -(1n << 63n)]) {
      const p = decodePacket(encodePacket(closeReq(id)));
      expect(p.type === PacketType.CLOSE_REQ && p.closeRequest.connectID).toBe(id);
    }
  });

  it('accepts Go-style DIAL_REQ with the type field omitted', () => {
    const p = decodePacket(Buffer.from('12170a03746370120e31302e302e302e313a31303235301801', 'hex'));
    expect(p.type).toBe(PacketType.DIAL_REQ);
  });

  it('writes every submessage even when empty', () => {
    expect(encodePacket(drain()).toString('hex')).toBe('08064200');
    expect(encodePacket(closeRsp(0n)).toString('hex')).toBe('08033200');
    expect(encodePacket(data(0n, new Uint8Array())).toString('hex')).toBe('08042200');
  });

  it('decodes DATA payloads as views of the input, large ones included', () => {
    const payload = Buffer.alloc(1 << 20, 7);
    const p = decodePacket(encodePacket(data(9n, payload)));
    expect(p.type === PacketType.DATA && Buffer.from(p.data.data).equals(payload)).toBe(true);
  });

  it('skips unknown fields', () => {
    // DATA{5,"hi"} followed by field 15 (varint 1) and field 14 (bytes "z") at top level.
    const buf = Buffer.concat([Buffer.from('0804220608051a026869', 'hex'), Buffer.from('7801720178', 'hex')]);
    const p = decodePacket(buf);
    expect(p.type === PacketType.DATA && Buffer.from(p.data.data).toString()).toBe('hi');
  });

  it.each([
    ['a packet whose type has no matching submessage', '0804', 'ERR_MISSING_PAYLOAD'],
    ['a DATA type carrying a closeRequest', '08042a020805', 'ERR_MISSING_PAYLOAD'],
    ['an unknown packet type', '08094200', 'ERR_UNKNOWN_PACKET_TYPE'],
    ['a truncated length', '0804220a0805', 'ERR_MALFORMED_PACKET'],
    ['a truncated varint', '08', 'ERR_MALFORMED_PACKET'],
    ['a wrong wire type for type', '0a00', 'ERR_MALFORMED_PACKET'],
    ['field number zero', '0000', 'ERR_MALFORMED_PACKET'],
  ])('rejects %s with a clear ProtocolError', (_name, hex, code) => {
    let err: unknown;
    try {
      decodePacket(Buffer.from(hex, 'hex'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(code);
    expect((err as ProtocolError).message.length).toBeGreaterThan(10);
  });
});
