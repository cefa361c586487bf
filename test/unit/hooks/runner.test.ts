import { afterEach, describe, expect, it } from '@jest/globals';
import {
  failurePolicyFor,
  HookBackoff,
  HookError,
  parseHookFailurePolicy,
  runHooks,
  type AgentHookContext,
  type HookProvider,
} from '../../../src/hooks/index.js';
import { agentEnv, metricValue } from './helpers.js';

const RUNS = 'tunnel_hook_runs_total';

async function rejection(p: Promise<unknown>): Promise<HookError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HookError)) throw new Error(`expected a HookError, got ${String(err)}`);
  return err;
}

describe('runHooks', () => {
  let h: ReturnType<typeof agentEnv>;
  afterEach(async () => {
    h.life.abort();
    await h.background.settle();
  });

  it('runs the hook of each provider in the order given, with the agent context', async () => {
    h = agentEnv({ options: { 'credential-namespace': 'ns' } });
    const seen: string[] = [];
    let ctxSeen: AgentHookContext | undefined;
    const a: HookProvider = {
      name: 'a',
      preStartTunnelAgent(ctx) {
        ctxSeen = ctx;
        seen.push('a');
      },
    };
    const b: HookProvider = { name: 'b', postStartTunnelAgent: () => void seen.push('b-post') };
    const c: HookProvider = { name: 'c', preStartTunnelAgent: async () => void seen.push('c') };
    const report = await runHooks('preStartTunnelAgent', [a, b, c], h.env, { failure: 'fail', timeoutMs: 1000 });
    expect(seen).toEqual(['a', 'c']);
    expect(report).toEqual({
      phase: 'preStartTunnelAgent',
      aborted: false,
      providers: [
        { provider: 'a', result: 'success', attempts: 1 },
        { provider: 'c', result: 'success', attempts: 1 },
      ],
    });
    expect(ctxSeen).toMatchObject({ phase: 'preStartTunnelAgent', clusterName: 'cls-a', agentID: 'cls-a', options: { 'credential-namespace': 'ns' } });
    expect(ctxSeen!.signal.aborted).toBe(false);
    expect(await metricValue(h.registry, RUNS, { provider: 'a', phase: 'preStartTunnelAgent', result: 'success' })).toBe(1);
    expect(await metricValue(h.registry, 'tunnel_hook_duration_seconds_count', { provider: 'c', phase: 'preStartTunnelAgent' })).toBe(1);
    const started = h.logs.withMessage('hook started');
    expect(started.map((l) => l.hook)).toEqual(['a', 'c']);
    expect(h.logs.withMessage('hook finished')[0]).toMatchObject({ hook: 'a', phase: 'preStartTunnelAgent', durationMs: 0 });
  });

  it('policy fail: rejects with the failing hook\'s error and runs no later provider', async () => {
    h = agentEnv();
    let laterRan = false;
    const bad: HookProvider = {
      name: 'bad',
      preStartTunnelAgent: () => {
        throw new Error('cannot reach the cloud metadata service');
      },
    };
    const later: HookProvider = { name: 'later', preStartTunnelAgent: () => void (laterRan = true) };
    const err = await rejection(runHooks('preStartTunnelAgent', [bad, later], h.env, { failure: 'fail', timeoutMs: 1000 }));
    expect(err.code).toBe('ERR_HOOK_FAILED');
    expect(err.message).toBe('PreStartTunnelAgent hook "bad" failed: cannot reach the cloud metadata service');
    expect((err.cause as Error).message).toBe('cannot reach the cloud metadata service');
    expect(err.provider).toBe('bad');
    expect(laterRan).toBe(false);
    expect(await metricValue(h.registry, RUNS, { provider: 'bad', phase: 'preStartTunnelAgent', result: 'error' })).toBe(1);
    expect(h.logs.withMessage('hook failed')[0]).toMatchObject({
      hook: 'bad',
      result: 'error',
      error: 'PreStartTunnelAgent hook "bad" failed: cannot reach the cloud metadata service',
    });
  });

  it('a hook that hangs and ignores its signal still ends with a timeout error when the time is up', async () => {
    h = agentEnv();
    let runSignal: AbortSignal | undefined;
    const hang: HookProvider = {
      name: 'hang',
      preStartTunnelAgent: (ctx) => {
        runSignal = ctx.signal;
        return new Promise<void>(() => undefined);
      },
    };
    const p = rejection(runHooks('preStartTunnelAgent', [hang], h.env, { failure: 'fail', timeoutMs: 5000 }));
    await h.fake.tickAsync(4999);
    expect(runSignal!.aborted).toBe(false);
    await h.fake.tickAsync(1);
    const err = await p;
    expect(err.code).toBe('ERR_HOOK_TIMEOUT');
    expect(err.message).toBe('PreStartTunnelAgent hook "hang" did not finish within 5s');
    expect(runSignal!.aborted).toBe(true);
    expect(await metricValue(h.registry, RUNS, { provider: 'hang', phase: 'preStartTunnelAgent', result: 'timeout' })).toBe(1);
    expect(h.logs.withMessage('hook failed')[0]).toMatchObject({ hook: 'hang', result: 'timeout', durationMs: 5000 });
  });

  it('a hook that honours its signal is reported as a timeout too, not as its own abort error', async () => {
    h = agentEnv();
    const polite: HookProvider = {
      name: 'polite',
      postStartTunnelAgent: (ctx) =>
        new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted by signal')))),
    };
    const p = rejection(runHooks('postStartTunnelAgent', [polite], h.env, { failure: 'fail', timeoutMs: 250 }));
    await h.fake.tickAsync(250);
    expect((await p).message).toBe('PostStartTunnelAgent hook "polite" did not finish within 250ms');
  });

  it('policy ignore: logs the failure and goes on with the next provider', async () => {
    h = agentEnv();
    let nextRan = false;
    const bad: HookProvider = { name: 'bad', postStartTunnelAgent: () => Promise.reject(new Error('boom')) };
    const next: HookProvider = { name: 'next', postStartTunnelAgent: () => void (nextRan = true) };
    const report = await runHooks('postStartTunnelAgent', [bad, next], h.env, { failure: 'ignore', timeoutMs: 1000 });
    expect(nextRan).toBe(true);
    expect(report.providers.map((p) => [p.provider, p.result])).toEqual([
      ['bad', 'error'],
      ['next', 'success'],
    ]);
    expect(report.providers[0]!.error!.message).toBe('PostStartTunnelAgent hook "bad" failed: boom');
    expect(h.logs.withMessage('hook failure ignored (hook failure policy "ignore")')[0]).toMatchObject({ hook: 'bad' });
  });

  it('policy retry: runs the hook again after growing waits until it succeeds', async () => {
    h = agentEnv();
    let calls = 0;
    const flaky: HookProvider = {
      name: 'flaky',
      postStartTunnelAgent: () => {
        calls++;
        if (calls < 3) throw new Error(`attempt ${calls} failed`);
      },
    };
    const p = runHooks('postStartTunnelAgent', [flaky], h.env, {
      failure: 'retry',
      timeoutMs: 1000,
      backoff: { initialMs: 1000, factor: 2, maxMs: 10_000, random: () => 0 },
    });
    await h.fake.tickAsync(0);
    expect(calls).toBe(1);
    await h.fake.tickAsync(999);
    expect(calls).toBe(1);
    await h.fake.tickAsync(1);
    expect(calls).toBe(2);
    await h.fake.tickAsync(1999);
    expect(calls).toBe(2);
    await h.fake.tickAsync(1);
    const report = await p;
    expect(calls).toBe(3);
    expect(report.providers).toEqual([{ provider: 'flaky', result: 'success', attempts: 3 }]);
    expect(await metricValue(h.registry, RUNS, { provider: 'flaky', phase: 'postStartTunnelAgent', result: 'error' })).toBe(2);
    expect(await metricValue(h.registry, RUNS, { provider: 'flaky', phase: 'postStartTunnelAgent', result: 'success' })).toBe(1);
    expect(h.logs.withMessage('hook will be retried').map((l) => l.retryInMs)).toEqual([1000, 2000]);
  });

  it('policy retry: stops retrying when the agent stops, without rejecting', async () => {
    h = agentEnv();
    let calls = 0;
    const broken: HookProvider = {
      name: 'broken',
      postStartTunnelAgent: () => {
        calls++;
        throw new Error('still broken');
      },
    };
    const p = runHooks('postStartTunnelAgent', [broken], h.env, { failure: 'retry', timeoutMs: 1000, backoff: { random: () => 0 } });
    await h.fake.tickAsync(1000);
    expect(calls).toBe(2);
    h.life.abort();
    const report = await p;
    expect(report.aborted).toBe(true);
    expect(report.providers).toEqual([expect.objectContaining({ provider: 'broken', result: 'aborted', attempts: 2 })]);
    await h.fake.tickAsync(60_000);
    expect(calls).toBe(2);
  });

  it('a hook running when the agent stops is abandoned: result aborted, no rejection even under policy fail', async () => {
    h = agentEnv();
    const slow: HookProvider = { name: 'slow', preStartTunnelAgent: () => new Promise<void>(() => undefined) };
    const p = runHooks('preStartTunnelAgent', [slow], h.env, { failure: 'fail', timeoutMs: 0 });
    await h.fake.tickAsync(0);
    h.life.abort();
    const report = await p;
    expect(report).toMatchObject({ aborted: true, providers: [{ provider: 'slow', result: 'aborted' }] });
    expect(await metricValue(h.registry, RUNS, { provider: 'slow', phase: 'preStartTunnelAgent', result: 'aborted' })).toBe(1);
  });

  it('background work started by a hook gets the agent lifetime signal, not the run signal', async () => {
    h = agentEnv();
    let bgSignal: AbortSignal | undefined;
    let runSignal: AbortSignal | undefined;
    const p: HookProvider = {
      name: 'bg',
      postStartTunnelAgent: (ctx) => {
        runSignal = ctx.signal;
        ctx.background('loop', async (signal) => {
          bgSignal = signal;
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        });
      },
    };
    await runHooks('postStartTunnelAgent', [p], h.env, { failure: 'fail', timeoutMs: 100 });
    await h.fake.tickAsync(1000);
    expect(runSignal).not.toBe(bgSignal);
    expect(bgSignal!.aborted).toBe(false);
    expect(h.background.size).toBe(1);
    h.life.abort();
    await h.background.settle();
    expect(h.background.size).toBe(0);
  });
});

describe('failure policies', () => {
  it('default to fail before the start and retry after it; server hooks always ignore', () => {
    expect(failurePolicyFor('preStartTunnelAgent')).toBe('fail');
    expect(failurePolicyFor('postStartTunnelAgent')).toBe('retry');
    expect(failurePolicyFor('postStartTunnelAgent', 'ignore')).toBe('ignore');
    expect(failurePolicyFor('preStartTunnelAgent', 'ignore')).toBe('ignore');
    expect(failurePolicyFor('agentConnected', 'fail')).toBe('ignore');
  });

  it('parse --hook-failure-policy and name the accepted values on a typo', () => {
    expect(parseHookFailurePolicy('Ignore')).toBe('ignore');
    expect(() => parseHookFailurePolicy('abort')).toThrow('invalid value "abort" for --hook-failure-policy: must be one of fail, ignore, retry');
  });

  it('backoff grows by its factor up to the cap, with jitter on top', () => {
    const b = new HookBackoff({ initialMs: 100, factor: 3, maxMs: 500, jitter: 0.5, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([150, 450, 750, 750]);
    b.reset();
    expect(b.next()).toBe(150);
  });
});
