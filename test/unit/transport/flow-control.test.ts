/**
 * Per-connection credits (src/transport/flow-control.ts) and their wire
 * format (src/transport/flow-wire.ts) against proto/tunnel/v1/flow.proto:
 * windows open per connection, a sender stops at its credit, grants come
 * back in quarter-window batches on a later turn, unknown and closed
 * connections ignore grants, and a peer over its credit is caught. Grant
 * batches are cross-encoded with protobufjs, so the .proto file and the hand
 * codec cannot drift apart.
 */
import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import protobuf from 'protobufjs';
import { FlowLink } from '../../../src/transport/flow-control.js';
import {
  CREDITS_PATH,
  DOWNLINK_PATH,
  decodeGrants,
  encodeGrants,
  FLOW_MD,
  FLOW_SCHEME,
  FlowWireError,
  type Grant,
  MAX_FLOW_WINDOW,
  MIN_FLOW_WINDOW,
  parseWindow,
} from '../../../src/transport/flow-wire.js';
import { repoRoot } from '../../support/paths.js';

const KiB = 1024;

/** A link whose deferred flushes run when the test says so, recording every grant batch written. */
function link(sendWindow = 64 * KiB, receiveWindow = 64 * KiB): { l: FlowLink; batches: Grant[][]; turn: () => void } {
  const queued: (() => void)[] = [];
  const batches: Grant[][] = [];
  const l = new FlowLink({ sendWindow, receiveWindow, defer: (fn) => queued.push(fn) });
  l.attach((b) => batches.push(decodeGrants(b)));
  return { l, batches, turn: () => queued.splice(0).forEach((f) => f()) };
}

describe('FlowLink: sending within credit', () => {
  it('opens each connection with the peer window and lets exactly that much out', () => {
    const { l } = link(100 * KiB);
    const a = l.open(1n);
    const b = l.open(2n);
    expect(a.available).toBe(100 * KiB);
    expect(a.take(60 * KiB)).toBe(60 * KiB);
    // Larger DATA is split: only what is left of the credit may go now.
    expect(a.take(60 * KiB)).toBe(40 * KiB);
    expect(a.take(1)).toBe(0);
    // The other connection's credit is its own.
    expect(b.available).toBe(100 * KiB);
    expect(b.take(100 * KiB + 1)).toBe(100 * KiB);
  });

  it('a sender without credit waits until a grant arrives for its connection, not another', async () => {
    const { l } = link(16 * KiB);
    const a = l.open(1n);
    const b = l.open(2n);
    a.take(16 * KiB);
    let woke = false;
    const waiting = a.waitForCredit().then(() => (woke = true));
    l.onGrants([{ connectID: 2n, bytes: 500 }]);
    await Promise.resolve();
    expect(woke).toBe(false);
    expect(b.available).toBe(16 * KiB + 500);
    l.onGrants([{ connectID: 1n, bytes: 1000 }]);
    await waiting;
    expect(woke).toBe(true);
    expect(a.take(5000)).toBe(1000);
  });

  it('grants for unknown and closed connections are ignored; closing wakes waiters and the link closes all', async () => {
    const { l } = link(16 * KiB);
    const a = l.open(1n);
    a.take(16 * KiB);
    const waiting = a.waitForCredit();
    l.onGrants([{ connectID: 99n, bytes: 1000 }]);
    expect(l.size).toBe(1);
    a.close();
    await waiting; // resolves: the connection is gone
    expect(a.closed).toBe(true);
    l.onGrants([{ connectID: 1n, bytes: 1000 }]);
    expect(a.available).toBe(0);
    expect(l.size).toBe(0);
    // A new connection after a close is unaffected by the old one's grants.
    const c = l.open(3n);
    l.close();
    expect(c.closed).toBe(true);
    expect(l.open(4n).closed).toBe(true);
  });
});

describe('FlowLink: receiving and granting back', () => {
  it('grants once a quarter of the window is owed, all connections together on the next turn', () => {
    const { l, batches, turn } = link(64 * KiB, 64 * KiB);
    const a = l.open(1n);
    const b = l.open(2n);
    expect(l.grantThreshold).toBe(16 * KiB);
    expect(a.received(16 * KiB - 1)).toBe(true);
    a.consumed(16 * KiB - 1);
    turn();
    expect(batches).toEqual([]); // under a quarter: nothing yet
    expect(a.received(1)).toBe(true);
    a.consumed(1);
    expect(b.received(20 * KiB)).toBe(true);
    b.consumed(20 * KiB);
    expect(batches).toEqual([]); // not on this turn
    turn();
    expect(batches).toEqual([
      [
        { connectID: 1n, bytes: 16 * KiB },
        { connectID: 2n, bytes: 20 * KiB },
      ],
    ]);
    turn();
    expect(batches).toHaveLength(1);
  });

  it('detects a peer over its credit, counting grants already sent', () => {
    const { l, turn } = link(64 * KiB, 32 * KiB);
    const a = l.open(1n);
    expect(a.received(32 * KiB)).toBe(true);
    a.consumed(8 * KiB);
    // Owed but not granted yet: the peer does not know, so it is still no credit.
    expect(a.received(1)).toBe(false);
    const b = l.open(2n);
    expect(b.received(32 * KiB)).toBe(true);
    b.consumed(8 * KiB);
    turn(); // 8 KiB granted back
    expect(b.received(8 * KiB)).toBe(true);
    expect(b.received(1)).toBe(false);
  });

  it('owed grants wait for the Credits stream, then go out', () => {
    const queued: (() => void)[] = [];
    const l = new FlowLink({ sendWindow: 64 * KiB, receiveWindow: 64 * KiB, defer: (fn) => queued.push(fn) });
    const a = l.open(7n);
    a.received(40 * KiB);
    a.consumed(40 * KiB);
    queued.splice(0).forEach((f) => f());
    const out: Grant[][] = [];
    l.attach((b) => out.push(decodeGrants(b)));
    queued.splice(0).forEach((f) => f());
    expect(out).toEqual([[{ connectID: 7n, bytes: 40 * KiB }]]);
  });

  it('a closed connection grants nothing more', () => {
    const { l, batches, turn } = link();
    const a = l.open(1n);
    a.received(20 * KiB);
    a.consumed(20 * KiB);
    a.close();
    turn();
    expect(batches).toEqual([]);
  });
});

describe('flow wire format against proto/tunnel/v1/flow.proto', () => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(repoRoot, 'proto', target);
  root.loadSync('tunnel/v1/flow.proto', { keepCase: true });
  root.resolveAll();
  const Req = root.lookupType('tunnel.v1.CreditsRequest');
  const Rsp = root.lookupType('tunnel.v1.CreditsResponse');

  const sample: Grant[] = [
    { connectID: 1n, bytes: 1 },
    { connectID: 300n, bytes: 16 * KiB },
    { connectID: 0x7fff_ffff_ffff_ffffn, bytes: 0xffff_ffff },
    { connectID: -5n, bytes: 1024 * 1024 },
  ];
  const asProto = (gs: Grant[]): { grants: { connect_id: string; bytes: number }[] } => ({
    grants: gs.map((g) => ({ connect_id: g.connectID.toString(), bytes: g.bytes })),
  });
  const fromProto = (m: protobuf.Message): Grant[] =>
    (Req.toObject(m, { longs: String }) as { grants: { connect_id?: string; bytes?: number }[] }).grants.map((g) => ({
      connectID: BigInt(g.connect_id ?? '0'),
      bytes: g.bytes ?? 0,
    }));

  it('the service and messages are where the code looks for them', () => {
    const svc = root.lookupService('tunnel.v1.FlowService');
    const m = svc.methods['Credits']!;
    expect(`/${svc.fullName.slice(1)}/${m.name}`).toBe(CREDITS_PATH);
    expect(m.requestStream && m.responseStream).toBe(true);
    expect(m.requestType).toBe('CreditsRequest');
    expect(m.responseType).toBe('CreditsResponse');
    const grant = root.lookupType('tunnel.v1.Grant');
    expect(Object.values(grant.fields).map((f) => [f.name, f.id, f.type])).toEqual([
      ['connect_id', 1, 'int64'],
      ['bytes', 2, 'uint32'],
    ]);
    for (const t of [Req, Rsp]) {
      expect(Object.values(t.fields).map((f) => [f.name, f.id, f.type, f.repeated])).toEqual([['grants', 1, 'Grant', true]]);
    }
    const d = svc.methods['Downlink']!;
    expect(`/${svc.fullName.slice(1)}/${d.name}`).toBe(DOWNLINK_PATH);
    expect(d.requestStream && d.responseStream).toBe(true);
    expect(d.requestType).toBe('DownlinkRequest');
    // The agent receives konnectivity Packets on it, the codec of every other stream.
    expect(d.responseType).toBe('Packet');
    expect(d.resolvedResponseType?.fullName).toBe('.Packet');
    expect(Object.keys(root.lookupType('tunnel.v1.DownlinkRequest').fields)).toEqual([]);
    expect(FLOW_MD).toEqual({
      control: 'tunnel-flow-control',
      window: 'tunnel-flow-window',
      stream: 'tunnel-flow-stream',
      downlink: 'tunnel-flow-downlink',
    });
    expect(FLOW_SCHEME).toBe('credits-v1');
  });

  it('our encoding is byte-identical to protobufjs for CreditsRequest and CreditsResponse', () => {
    const ours = encodeGrants(sample);
    expect(Buffer.from(Req.encode(Req.fromObject(asProto(sample))).finish()).toString('hex')).toBe(ours.toString('hex'));
    expect(Buffer.from(Rsp.encode(Rsp.fromObject(asProto(sample))).finish()).toString('hex')).toBe(ours.toString('hex'));
    expect(fromProto(Req.decode(ours))).toEqual(sample);
    expect(encodeGrants([])).toHaveLength(0);
  });

  it('decodes what protobufjs encodes, skipping unknown fields and dropping zero grants', () => {
    const enc = Buffer.from(Req.encode(Req.fromObject(asProto(sample))).finish());
    expect(decodeGrants(enc)).toEqual(sample);
    // protobufjs writes a connect_id of 0 explicitly (Go omits it): both decode the same.
    const zero = Buffer.from(Req.encode(Req.fromObject(asProto([{ connectID: 0n, bytes: 42 }]))).finish());
    expect(decodeGrants(zero)).toEqual([{ connectID: 0n, bytes: 42 }]);
    expect(decodeGrants(encodeGrants([{ connectID: 0n, bytes: 42 }]))).toEqual([{ connectID: 0n, bytes: 42 }]);
    // An unknown field 9 (varint) in the message and 3 (bytes) inside a grant; a grant of 0 bytes.
    const w = protobuf.Writer.create();
    w.uint32((9 << 3) | 0).uint64(12345);
    w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 0).int64(8).uint32((3 << 3) | 2).bytes(Buffer.from('xyz')).uint32((2 << 3) | 0).uint32(77).ldelim();
    w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 0).int64(9).ldelim();
    expect(decodeGrants(w.finish())).toEqual([{ connectID: 8n, bytes: 77 }]);
  });

  it('refuses truncated and malformed batches', () => {
    const enc = encodeGrants(sample);
    expect(() => decodeGrants(enc.subarray(0, enc.length - 1))).toThrow(FlowWireError);
    expect(() => decodeGrants(Buffer.from([0x0a, 0x05, 0x08]))).toThrow(FlowWireError);
    expect(() => decodeGrants(Buffer.from([0x0b]))).toThrow(FlowWireError); // wire type 3 (groups)
  });

  it('accepts windows from 16 KiB to 64 MiB only', () => {
    expect(MIN_FLOW_WINDOW).toBe(16 * KiB);
    expect(MAX_FLOW_WINDOW).toBe(64 * 1024 * 1024);
    expect(parseWindow(String(16 * KiB))).toBe(16 * KiB);
    expect(parseWindow(String(64 * 1024 * 1024))).toBe(64 * 1024 * 1024);
    expect(parseWindow(' 1048576 ')).toBe(1024 * 1024);
    for (const bad of [undefined, '', String(16 * KiB - 1), String(64 * 1024 * 1024 + 1), '-65536', '1e6', '65536.5', 'lots', '99999999999']) {
      expect(parseWindow(bad)).toBeUndefined();
    }
  });
});
