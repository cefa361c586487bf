/**
 * Guards against drift between proto/client/client.proto and the hand-written
 * codec: field numbers and types are read from the .proto file itself, and
 * packets are cross-encoded with protobufjs (the reference implementation
 * grpc-js uses) in both directions.
 */
import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import protobuf from 'protobufjs';
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
  PAYLOAD_FIELD,
  PacketType,
} from '../../../src/protocol/index.js';
import { repoRoot } from '../../support/paths.js';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(repoRoot, 'proto', target);
root.loadSync('agent/agent.proto', { keepCase: true });
root.resolveAll();
const PacketMsg = root.lookupType('.Packet');

function fields(msg: string): Record<string, [number, string]> {
  const t = root.lookupType(msg);
  return Object.fromEntries(Object.values(t.fields).map((f) => [f.name, [f.id, f.type]]));
}

describe('proto files and codec agree', () => {
  it('declares no package, so the gRPC paths are /ProxyService/Proxy and /AgentService/Connect', () => {
    expect(root.lookupService('.ProxyService').methods['Proxy']).toBeDefined();
    expect(root.lookupService('.AgentService').methods['Connect']).toBeDefined();
    expect(root.lookupService('.AgentService').methods['Connect']!.requestStream).toBe(true);
  });

  it('has the documented field numbers and types', () => {
    expect(fields('.DialRequest')).toEqual({ protocol: [1, 'string'], address: [2, 'string'], random: [3, 'int64'] });
    expect(fields('.DialResponse')).toEqual({ error: [1, 'string'], connectID: [2, 'int64'], random: [3, 'int64'] });
    expect(fields('.CloseRequest')).toEqual({ connectID: [1, 'int64'] });
    expect(fields('.CloseResponse')).toEqual({ error: [1, 'string'], connectID: [2, 'int64'] });
    expect(fields('.CloseDial')).toEqual({ random: [1, 'int64'] });
    expect(fields('.Drain')).toEqual({});
    expect(fields('.Data')).toEqual({ connectID: [1, 'int64'], error: [2, 'string'], data: [3, 'bytes'] });
    const enumValues = root.lookupEnum('.PacketType').values;
    for (const [name, value] of Object.entries(PacketType)) expect(enumValues[name]).toBe(value);
  });

  it('uses the payload field numbers of the .proto for every packet type', () => {
    const p = fields('.Packet');
    expect(p['type']).toEqual([1, 'PacketType']);
    const byType: Record<number, string> = {
      0: 'dialRequest', 1: 'dialResponse', 2: 'closeRequest', 3: 'closeResponse', 4: 'data', 5: 'closeDial', 6: 'drain',
    };
    for (const [type, name] of Object.entries(byType)) {
      expect(PAYLOAD_FIELD[Number(type) as PacketType]).toBe(p[name]![0]);
    }
  });

  const samples: Packet[] = [
    dialReq('10.0.0.1:10250', (1n << 63n) - 1n),
    dialReq('[::1]:443', 123456789012345678n, 'tcp'),
    dialRsp(42n, 7n),
    dialRsp((1n << 62n) + 5n, 0n, 'dial tcp 127.0.0.1:1: connect: connection refused'),
    closeReq(99n),
    closeRsp(1n << 40n, 'unrecognized connectID'),
    data(3n, Buffer.from('héllo wörld')),
    data(1n, Buffer.alloc(70000, 1)),
    dialCls(-5n),
    drain(),
  ];

  it.each(samples.map((s) => [s.type, s] as const))('protobufjs decodes our encoding of type %s', (_t, p) => {
    const ref = PacketMsg.toObject(PacketMsg.decode(encodePacket(p)), { longs: String, bytes: Buffer });
    const ours = JSON.parse(JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    const norm = (o: Record<string, unknown>): unknown =>
      JSON.parse(JSON.stringify(o, (_k, v: unknown) => (v === '0' || v === '' ? undefined : v)));
    const refSub = Object.entries(ref).find(([k]) => k !== 'type')!;
    const ourSub = Object.entries(ours as Record<string, unknown>).find(([k]) => k !== 'type')!;
    expect(refSub[0]).toBe(ourSub[0]);
    expect(norm(refSub[1] as Record<string, unknown>)).toEqual(norm(ourSub[1] as Record<string, unknown>));
    expect(ref['type'] ?? 0).toBe(p.type);
  });

  it.each(samples.map((s) => [s.type, s] as const))('we decode protobufjs encoding of type %s identically', (_t, p) => {
    const toRef = (v: unknown): unknown => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toRef(x)]));
      return v;
    };
    const obj = PacketMsg.fromObject(toRef(p) as Record<string, unknown>);
    const bytes = PacketMsg.encode(obj).finish();
    const back = decodePacket(bytes);
    expect(encodePacket(back).equals(encodePacket(p))).toBe(true);
  });
});
