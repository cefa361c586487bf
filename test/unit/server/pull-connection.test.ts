/**
 * One Pull stream on the server, with an in-memory stream, target and clock:
 * the dial's outcomes, cancelling it, bytes both ways, both ways of closing,
 * and input that breaks the protocol.
 */
import { describe, expect, it } from '@jest/globals';
import FakeTimers from '@sinonjs/fake-timers';
import * as grpc from '@grpc/grpc-js';
import { Duplex } from 'node:stream';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry } from '../../../src/observability/metrics.js';
import { PullMetrics } from '../../../src/observability/pull-metrics.js';
import { closeReq, data, dialCls, dialReq, type Packet, PacketType } from '../../../src/protocol/index.js';
import type { Clock } from '../../../src/server/clock.js';
import { PullDialError, type PullDialer } from '../../../src/server/pull/dialer.js';
import { type PullAdmission, PullConnection } from '../../../src/server/pull/pull-connection.js';
import { pullPrincipal } from '../../../src/server/pull/principal.js';
import { FakePacketStream } from './fake-stream.js';
import { turn } from './relay-harness.js';

/** A target connection the test plays: what the server writes, and pushes from the "target". */
class FakeTarget extends Duplex {
  readonly got: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.got.push(chunk);
    cb();
  }
}

function setup(o: { dialer?: PullDialer; admit?: (name: string) => PullAdmission } = {}) {
  const fake = FakeTimers.createClock(0);
  const clock: Clock = { now: () => fake.now, setTimeout: (fn, ms) => fake.setTimeout(fn, ms), clearTimeout: (h) => fake.clearTimeout(h as FakeTimers.TimerId) };
  const registry = newRegistry(false);
  const metrics = new PullMetrics(registry);
  const stream = new FakePacketStream('agent');
  const target = new FakeTarget();
  const released: string[] = [];
  const dialSignals: AbortSignal[] = [];
  const conn = new PullConnection({
    stream,
    principal: pullPrincipal('cluster-a', { subject: 'tunnel-agent:cluster-a', method: 'mtls' })!,
    admit:
      o.admit ??
      ((name) => ({ ok: true, target: { name, host: '10.0.0.5', port: 80 }, release: () => released.push(name) })),
    label: (name) => name || '_other',
    dialer:
      o.dialer ??
      ((_t, _ms, signal) => {
        dialSignals.push(signal);
        return Promise.resolve(target);
      }),
    dialTimeoutMs: 1000,
    connectID: 9n,
    firstPacketTimeoutMs: 30_000,
    clock,
    log: silentLogger(),
    metrics,
  });
  const served = conn.serve();
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const m = await registry.getSingleMetric(name)?.get();
    return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
  };
  return { fake, stream, target, conn, served, released, dialSignals, metric };
}

const rspError = (p: Packet): string => (p.type === PacketType.DIAL_RSP ? p.dialResponse.error : `type ${p.type}`);

describe('PullConnection', () => {
  it('dials the target, answers DIAL_RSP with its connectID and moves bytes both ways', async () => {
    const t = setup();
    t.stream.push(dialReq('norm:443', 5n));
    expect(await t.stream.next()).toEqual({ type: PacketType.DIAL_RSP, dialResponse: { random: 5n, connectID: 9n, error: '' } });
    t.stream.push(data(9n, Buffer.from('to target')));
    await turn();
    expect(Buffer.concat(t.target.got).toString()).toBe('to target');
    t.target.push(Buffer.from('to agent'));
    const d = await t.stream.next();
    expect(d.type === PacketType.DATA && Buffer.from(d.data.data).toString()).toBe('to agent');
    expect(await t.metric('tunnel_pull_open_connections', { target: 'norm' })).toBe(1);
  });

  it('answers CLOSE_REQ with CLOSE_RSP, ends the stream, and releases the slot', async () => {
    const t = setup();
    t.stream.push(dialReq('norm', 5n));
    await t.stream.next();
    t.stream.push(closeReq(9n));
    expect(await t.stream.next()).toEqual({ type: PacketType.CLOSE_RSP, closeResponse: { connectID: 9n, error: '' } });
    await t.served;
    expect(t.stream.closed && t.stream.closeReason).toBeUndefined();
    expect(t.released).toEqual(['norm']);
    expect(await t.metric('tunnel_pull_open_connections', { target: 'norm' })).toBe(0);
  });

  it('sends an unprompted CLOSE_RSP when the target closes', async () => {
    const t = setup();
    t.stream.push(dialReq('norm', 5n));
    await t.stream.next();
    t.target.push(null);
    expect(await t.stream.next()).toEqual({ type: PacketType.CLOSE_RSP, closeResponse: { connectID: 9n, error: '' } });
    t.stream.end();
    await t.served;
    expect(t.released).toEqual(['norm']);
  });

  it('cancels the dial on DIAL_CLS', async () => {
    const t = setup({
      dialer: (_t, _ms, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new PullDialError(false, 'dial cancelled')))),
    });
    t.stream.push(dialReq('norm', 5n));
    await turn();
    t.stream.push(dialCls(5n));
    await t.served;
    expect(t.stream.written).toEqual([]);
    expect(t.released).toEqual(['norm']);
    expect(await t.metric('tunnel_pull_connections_total', { target: 'norm', result: 'cancelled' })).toBe(1);
  });

  it('reports a failed or timed-out dial with its code, without the target address', async () => {
    const refused = setup({ dialer: () => Promise.reject(new PullDialError(false, 'ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:80')) });
    refused.stream.push(dialReq('norm', 5n));
    expect(rspError(await refused.stream.next())).toBe('cannot connect to pull target "norm": ECONNREFUSED [ERR_PULL_DIAL]');
    const slow = setup({ dialer: () => Promise.reject(new PullDialError(true, 'no connection within 1000 ms')) });
    slow.stream.push(dialReq('norm', 6n));
    expect(rspError(await slow.stream.next())).toBe('pull target "norm" did not answer within 1000 ms [ERR_PULL_DIAL_TIMEOUT]');
    expect(await slow.metric('tunnel_pull_connections_total', { target: 'norm', result: 'dial_timeout' })).toBe(1);
  });

  it('passes on the refusal of admit() (policy, bound) and dials nothing', async () => {
    const t = setup({ admit: () => ({ ok: false, code: 'ERR_PULL_TOO_MANY', result: 'too_many', message: 'too many' }) });
    t.stream.push(dialReq('norm', 5n));
    expect(rspError(await t.stream.next())).toBe('too many [ERR_PULL_TOO_MANY]');
    await t.served;
    expect(t.dialSignals).toEqual([]);
  });

  it('refuses a protocol other than tcp', async () => {
    const t = setup();
    t.stream.push(dialReq('norm', 5n, 'udp'));
    expect(rspError(await t.stream.next())).toMatch(/protocol "udp" is not supported: pull connections are tcp \[ERR_PULL_BAD_ADDRESS\]/);
  });

  it('closes a stream that breaks the protocol: a second DIAL_REQ, DATA before the dial, a DRAIN', async () => {
    const second = setup();
    second.stream.push(dialReq('norm', 5n));
    await second.stream.next();
    second.stream.push(dialReq('norm', 6n));
    await second.served;
    expect(second.stream.closeReason?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(second.stream.closeReason?.message).toMatch(/exactly one DIAL_REQ/);

    const early = setup({ dialer: () => new Promise(() => undefined) });
    early.stream.push(dialReq('norm', 5n));
    early.stream.push(data(9n, Buffer.from('x')));
    await early.served;
    expect(early.stream.closeReason?.message).toMatch(/DATA before the dial completed/);

    const drain = setup();
    drain.stream.push({ type: PacketType.DRAIN, drain: {} });
    await drain.served;
    expect(drain.stream.closeReason?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('closes a stream that sends no DIAL_REQ in time', async () => {
    const t = setup();
    t.fake.tick(30_000);
    await t.served;
    expect(t.stream.closeReason?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});
