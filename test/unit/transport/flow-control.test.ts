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
  type CreditBatch,
  CREDITS_PATH,
  DOWNLINK_PATH,
  decodeCredits,
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

describe('FlowLink: blocked senders and growing windows', () => {
  /** A link whose batches are recorded whole (grants and blocked). */
  function recording(o: { send: number; receive: number; max?: number }): { l: FlowLink; batches: CreditBatch[]; turn: () => void } {
    const queued: (() => void)[] = [];
    const batches: CreditBatch[] = [];
    const l = new FlowLink({ sendWindow: o.send, receiveWindow: o.receive, maxReceiveWindow: o.max, defer: (fn) => queued.push(fn) });
    l.attach((b) => batches.push(decodeCredits(b)));
    return { l, batches, turn: () => queued.splice(0).forEach((f) => f()) };
  }

  it('a sender out of credit says so once, in the next batch with any grants, and again only after a grant', () => {
    const { l, batches, turn } = recording({ send: 16 * KiB, receive: 64 * KiB });
    const a = l.open(1n);
    const b = l.open(2n);
    expect(a.take(16 * KiB)).toBe(16 * KiB); // exactly its credit: not blocked
    turn();
    expect(batches).toEqual([]);
    expect(a.take(1)).toBe(0);
    expect(a.take(100)).toBe(0);
    b.received(20 * KiB);
    b.consumed(20 * KiB);
    turn();
    expect(batches).toEqual([{ grants: [{ connectID: 2n, bytes: 20 * KiB }], blocked: [1n] }]);
    expect(a.take(1)).toBe(0);
    turn();
    expect(batches).toHaveLength(1); // still the same shortage: said once
    l.onGrants([{ connectID: 1n, bytes: 100 }]);
    expect(a.take(200)).toBe(100); // short again after the grant
    turn();
    expect(batches[1]).toEqual({ grants: [], blocked: [1n] });
    // A connection that closes before the batch goes out is not reported.
    a.take(1);
    l.onGrants([{ connectID: 1n, bytes: 10 }]);
    a.take(20);
    a.close();
    turn();
    expect(batches).toHaveLength(2);
  });

  it('grows a window the peer is blocked on once eight windows went through, doubling up to the maximum', () => {
    const { l, batches, turn } = recording({ send: 64 * KiB, receive: 64 * KiB, max: 256 * KiB });
    const r = l.open(1n);
    const move = (n: number): void => {
      for (let done = 0; done < n; done += 16 * KiB) {
        expect(r.received(16 * KiB)).toBe(true);
        r.consumed(16 * KiB);
        turn();
      }
    };
    const blocked = (): void => l.onCredits({ grants: [], blocked: [1n] });
    move(8 * 64 * KiB - 16 * KiB);
    blocked();
    turn();
    expect(r.receiveWindow).toBe(64 * KiB); // not eight windows yet
    move(16 * KiB);
    batches.length = 0;
    blocked();
    expect(r.receiveWindow).toBe(128 * KiB);
    turn();
    // The extra 64 KiB goes out as a grant of bytes never received.
    expect(batches).toEqual([{ grants: [{ connectID: 1n, bytes: 64 * KiB }], blocked: [] }]);
    // The peer may now have 128 KiB on the way, and no more.
    expect(r.received(128 * KiB)).toBe(true);
    expect(r.received(1)).toBe(false);
  });

  it('the window grows no further than the maximum, and the grown window is what a violation is judged against', () => {
    const { l, turn } = recording({ send: 64 * KiB, receive: 64 * KiB, max: 160 * KiB });
    const r = l.open(1n);
    const pass = (): void => {
      // Eight of the current window through, then the peer is blocked.
      const w = r.receiveWindow;
      for (let done = 0; done < 8 * w; done += 16 * KiB) {
        expect(r.received(16 * KiB)).toBe(true);
        r.consumed(16 * KiB);
        turn();
      }
      l.onCredits({ grants: [], blocked: [1n] });
      turn();
    };
    pass();
    expect(r.receiveWindow).toBe(128 * KiB);
    pass();
    expect(r.receiveWindow).toBe(160 * KiB); // doubled, capped
    // Right after a growth everything owed went out with it: the peer may have the whole window on the way.
    expect(r.received(160 * KiB)).toBe(true);
    expect(r.received(1)).toBe(false);
    r.consumed(160 * KiB + 1);
    turn();
    pass();
    expect(r.receiveWindow).toBe(160 * KiB);
  });

  it('a reader that has not taken eight windows since the last change, a closed connection, or no maximum: no growth', () => {
    const slow = recording({ send: 64 * KiB, receive: 64 * KiB, max: 1024 * KiB });
    const s = slow.l.open(1n);
    // The peer has sent eight windows, but we handed on one less 16 KiB piece (a reader that stopped).
    for (let i = 0; i < 32; i++) {
      expect(s.received(16 * KiB)).toBe(true);
      if (i < 31) s.consumed(16 * KiB);
      slow.turn();
    }
    slow.l.onCredits({ grants: [], blocked: [1n] });
    expect(s.receiveWindow).toBe(64 * KiB);
    s.consumed(16 * KiB);
    slow.turn();
    slow.l.onCredits({ grants: [], blocked: [1n, 99n] }); // unknown ids are ignored
    expect(s.receiveWindow).toBe(128 * KiB);
    s.close();
    slow.l.onCredits({ grants: [], blocked: [1n] });
    expect(s.receiveWindow).toBe(128 * KiB);

    const fixed = recording({ send: 64 * KiB, receive: 64 * KiB });
    expect(fixed.l.maxReceiveWindow).toBe(64 * KiB);
    const f = fixed.l.open(1n);
    for (let i = 0; i < 64; i++) {
      f.received(16 * KiB);
      f.consumed(16 * KiB);
      fixed.turn();
    }
    fixed.l.onCredits({ grants: [], blocked: [1n] });
    expect(f.receiveWindow).toBe(64 * KiB);
  });

  it('two links wired together: a bulk sender to a fast reader reaches the maximum window; to a reader that stops, never more than the window', () => {
    function wired(consume: boolean): { perTurn: number[]; held: number } {
      const q: (() => void)[] = [];
      const defer = (fn: () => void): void => void q.push(fn);
      const sender = new FlowLink({ sendWindow: 256 * KiB, receiveWindow: 256 * KiB, defer });
      const receiver = new FlowLink({ sendWindow: 256 * KiB, receiveWindow: 256 * KiB, maxReceiveWindow: 1024 * KiB, defer });
      sender.attach((b) => receiver.onCredits(decodeCredits(b)));
      receiver.attach((b) => sender.onCredits(decodeCredits(b)));
      const tx = sender.open(5n);
      const rx = receiver.open(5n);
      const perTurn: number[] = [];
      let held = 0;
      for (let t = 0; t < 100; t++) {
        let sent = 0;
        for (;;) {
          const n = tx.take(64 * KiB);
          if (n === 0) break;
          expect(rx.received(n)).toBe(true);
          if (consume) rx.consumed(n);
          else held += n;
          sent += n;
        }
        perTurn.push(sent);
        // Batches of both sides go out on the next turn.
        while (q.length > 0) q.splice(0).forEach((f) => f());
      }
      return { perTurn, held };
    }
    const fast = wired(true);
    expect(fast.perTurn[0]).toBe(256 * KiB);
    expect(Math.max(...fast.perTurn)).toBe(1024 * KiB);
    expect(fast.perTurn.at(-1)).toBe(1024 * KiB);
    const stalled = wired(false);
    expect(stalled.held).toBe(256 * KiB);
    expect(stalled.perTurn.slice(1).every((n) => n === 0)).toBe(true);
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
      expect(Object.values(t.fields).map((f) => [f.name, f.id, f.type, f.repeated])).toEqual([
        ['grants', 1, 'Grant', true],
        ['blocked', 2, 'int64', true],
      ]);
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

  it('blocked connectIDs: packed as proto3 packs them, byte-identical to protobufjs, and both forms decode', () => {
    const blocked = [1n, 300n, 0x7fff_ffff_ffff_ffffn, -5n];
    const ours = encodeGrants(sample, blocked);
    const theirs = Buffer.from(Req.encode(Req.fromObject({ ...asProto(sample), blocked: blocked.map(String) })).finish());
    expect(theirs.toString('hex')).toBe(ours.toString('hex'));
    expect(decodeCredits(ours)).toEqual({ grants: sample, blocked });
    expect(decodeCredits(encodeGrants([], [7n]))).toEqual({ grants: [], blocked: [7n] });
    // Unpacked (one value per field), which parsers must accept as well.
    const w = protobuf.Writer.create();
    w.uint32((2 << 3) | 0).int64(9);
    w.uint32((2 << 3) | 0).int64(-1);
    expect(decodeCredits(w.finish())).toEqual({ grants: [], blocked: [9n, -1n] });
    // A peer that does not know the field (decodeGrants alone) still reads the grants.
    expect(decodeGrants(ours)).toEqual(sample);
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
