import { describe, expect, it } from '@jest/globals';
import { ClientSet } from '../../../src/agent/client-set.js';
import { AgentError, type ServerConnection, type ServerTarget } from '../../../src/agent/index.js';
import { connectionLimits } from '../../../src/agent/limits.js';
import { StreamSession } from '../../../src/agent/session.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AgentMetrics, newRegistry } from '../../../src/observability/metrics.js';
import { PacketType } from '../../../src/protocol/index.js';
import { fakeClock } from './fake-clock.js';
import { FakeDialer } from './fake-endpoint.js';
import { MemoryPacketStream } from './memory-stream.js';

interface FakeConn extends ServerConnection {
  stream: MemoryPacketStream;
  ready: boolean;
  closed: boolean;
}

/** A connector whose answers are scripted: a server id (with its count) or an error. */
function scripted(answers: (string | Error)[], count = 1) {
  const attempts: { at: number; target: string }[] = [];
  const conns: FakeConn[] = [];
  let i = 0;
  return {
    attempts,
    conns,
    connector: (now: () => number) => async (target: ServerTarget) => {
      attempts.push({ at: now(), target: target.address });
      const a = answers[Math.min(i++, answers.length - 1)]!;
      if (a instanceof Error) throw a;
      const c: FakeConn = {
        serverID: a,
        serverCount: count,
        target,
        stream: new MemoryPacketStream(),
        ready: true,
        closed: false,
        isReady: () => c.ready,
        close: () => {
          c.closed = true;
          c.stream.close();
        },
      };
      conns.push(c);
      return c;
    },
  };
}

function setup(answers: (string | Error)[], o: { count?: number; syncForever?: boolean; targets?: string[] } = {}) {
  const { fake, clock } = fakeClock(0);
  const metrics = new AgentMetrics(newRegistry(false));
  const script = scripted(answers, o.count ?? 1);
  const dialer = new FakeDialer();
  const targets: ServerTarget[] = (o.targets ?? ['lb:8091']).map((a) => ({ host: a.split(':')[0]!, port: Number(a.split(':')[1]), address: a }));
  const set = new ClientSet({
    targets,
    connector: script.connector(() => fake.now),
    createSession: (conn, logger) =>
      new StreamSession({
        stream: conn.stream,
        serverID: conn.serverID,
        dialer: dialer.dial,
        dialTimeoutMs: 5000,
        limits: connectionLimits(150),
        clock,
        logger,
        metrics,
      }),
    syncIntervalMs: 1000,
    syncIntervalCapMs: 10_000,
    probeIntervalMs: 1000,
    syncForever: o.syncForever ?? false,
    clock,
    random: () => 0.5,
    logger: silentLogger(),
    metrics,
  });
  return { fake, set, script, metrics };
}

const gauge = async (g: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> => (await g.get()).values[0]?.value ?? 0;

describe('ClientSet sync loop', () => {
  it('retries failed connections with ×1.5 backoff and 10 % jitter, capped', async () => {
    const { fake, set, script } = setup([new AgentError('ERR_SERVER_UNAVAILABLE', 'down')]);
    set.start();
    await fake.tickAsync(60_000);
    const at = script.attempts.map((a) => a.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // jitter fixed at 0.5 → each wait is the interval × 1.05; the interval grows ×1.5 up to 10 s.
    const want = [1050, 1575, 2362.5, 3543.75, 5315.625, 7973.4375, 10_500, 10_500];
    want.forEach((w, i) => expect(Math.abs(gaps[i]! - w)).toBeLessThan(1));
    for (const g of gaps) expect(g).toBeLessThanOrEqual(10_000 * 1.1);
    expect(at[0]).toBe(0);
    await set.stop();
    expect(fake.countTimers()).toBe(0);
  });

  it('goes back to the base interval after a success', async () => {
    const { fake, set, script } = setup([new AgentError('ERR_SERVER_UNAVAILABLE', 'down'), new AgentError('ERR_SERVER_UNAVAILABLE', 'down'), 's1'], {
      count: 2,
    });
    set.start();
    await fake.tickAsync(1050 + 1575);
    expect(script.attempts).toHaveLength(3);
    expect(set.size).toBe(1);
    await fake.tickAsync(1050);
    expect(script.attempts).toHaveLength(4);
    await set.stop();
  });

  it('holds one stream per server id up to the server count, closing duplicates without slowing down', async () => {
    const { fake, set, script, metrics } = setup(['s1', 's1', 's2', 's1', 's3', 's9'], { count: 3 });
    set.start();
    await fake.tickAsync(0);
    expect(set.size).toBe(1);
    await fake.tickAsync(1050);
    expect(script.conns[1]!.closed).toBe(true); // duplicate s1
    await fake.tickAsync(1050); // same interval after a duplicate while servers are missing
    expect(set.size).toBe(2);
    await fake.tickAsync(1050 * 2);
    expect(set.size).toBe(3);
    expect(script.conns.map((c) => c.closed)).toEqual([false, true, false, true, false]);
    expect(await gauge(metrics.openServerConnections)).toBe(3);
    expect(await gauge(metrics.knownServerCount)).toBe(3);
    // Full: no more attempts.
    const n = script.attempts.length;
    await fake.tickAsync(10_000);
    expect(script.attempts).toHaveLength(n);
    await set.stop();
    expect(await gauge(metrics.openServerConnections)).toBe(0);
  });

  it('with syncForever keeps probing, backing off on duplicates once full', async () => {
    const { fake, set, script } = setup(['s1'], { count: 1, syncForever: true });
    set.start();
    await fake.tickAsync(0);
    await fake.tickAsync(1050 + 1050 + 1575);
    // Full after the first: every duplicate grows the interval (1000, 1500, ...), each waited × 1.05.
    const want = [0, 1050, 2100, 3675];
    script.attempts.forEach((a, i) => expect(Math.abs(a.at - want[i]!)).toBeLessThan(2));
    expect(script.attempts).toHaveLength(4);
    expect(set.size).toBe(1);
    await set.stop();
  });

  it('reconnects after a stream ends and closes only that stream', async () => {
    const { fake, set, script } = setup(['s1', 's2', 's1'], { count: 2 });
    set.start();
    await fake.tickAsync(1050);
    expect(set.size).toBe(2);
    script.conns[0]!.stream.end();
    await fake.tickAsync(0);
    expect(set.size).toBe(1);
    expect(script.conns[1]!.stream.closed).toBe(false);
    await fake.tickAsync(1050);
    expect(set.size).toBe(2);
    await set.stop();
  });

  it('removes a connection whose channel is not ready at the next probe', async () => {
    const { fake, set, script } = setup(['s1', 's2'], { count: 1 });
    set.start();
    await fake.tickAsync(0);
    script.conns[0]!.ready = false;
    await fake.tickAsync(1000);
    expect(script.conns[0]!.closed).toBe(true);
    await fake.tickAsync(1050);
    expect(set.size).toBe(1);
    expect(set.describe()[0]!.serverID).toBe('s2');
    await set.stop();
  });

  it('tries each listed address that holds no stream yet', async () => {
    const { fake, set, script } = setup(['s1', 's2', 's3'], { count: 1, targets: ['a:1', 'b:1', 'c:1'] });
    set.start();
    await fake.tickAsync(1050 * 2);
    expect(script.attempts.map((a) => a.target)).toEqual(['a:1', 'b:1', 'c:1']);
    expect(set.wanted).toBe(3);
    expect(set.size).toBe(3);
    await set.stop();
  });

  it('on drain sends DRAIN on every stream, opens no more and is not ready', async () => {
    const { fake, set, script } = setup(['s1', 's2', 's3'], { count: 3 });
    set.start();
    await fake.tickAsync(1050);
    expect(set.ready).toBe(true);
    set.drain();
    expect(set.ready).toBe(false);
    for (const c of script.conns) expect(c.stream.sent).toEqual([{ type: PacketType.DRAIN, drain: {} }]);
    await fake.tickAsync(30_000);
    expect(script.attempts).toHaveLength(2);
    expect(set.size).toBe(2);
    await set.stop();
    expect(set.size).toBe(0);
  });
});
