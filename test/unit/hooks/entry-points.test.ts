import { describe, expect, it } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import {
  createAgentHooks,
  createServerHooks,
  HookError,
  parseDurationOption,
  parseHookOptionPairs,
  type HookProvider,
  type ServerHookContext,
} from '../../../src/hooks/index.js';
import { captureLogger, fakeHookClock, metricValue } from './helpers.js';

function agentHooks(providers: HookProvider[], extra: { failurePolicy?: 'fail' | 'ignore' | 'retry'; timeoutMs?: number } = {}) {
  const { fake, clock } = fakeHookClock();
  const logs = captureLogger();
  const registry = new Registry();
  const hooks = createAgentHooks({
    providers,
    clusterName: 'cls-a',
    agentID: 'cls-a',
    managedKubeConfig: {} as KubeConfig,
    metaKubeConfig: {} as KubeConfig,
    logger: logs.logger,
    registry,
    clock,
    backoff: { random: () => 0 },
    ...extra,
  });
  return { hooks, fake, logs, registry };
}

describe('createAgentHooks', () => {
  it('pre-start defaults to fail: the rejection carries the hook\'s message for the agent to exit with', async () => {
    const { hooks } = agentHooks([
      {
        name: 'cloud',
        preStartTunnelAgent: () => {
          throw new Error('instance metadata unreachable');
        },
      },
    ]);
    const err = await hooks.preStart().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err).toMatchObject({ code: 'ERR_HOOK_FAILED', message: 'PreStartTunnelAgent hook "cloud" failed: instance metadata unreachable' });
    await hooks.stop();
  });

  it('--hook-failure-policy=ignore lets the agent start despite a failing pre-start hook', async () => {
    const { hooks } = agentHooks([{ name: 'cloud', preStartTunnelAgent: () => Promise.reject(new Error('nope')) }], { failurePolicy: 'ignore' });
    const report = await hooks.preStart();
    expect(report.providers[0]).toMatchObject({ provider: 'cloud', result: 'error' });
    await hooks.stop();
  });

  it('a hanging pre-start hook hits --hook-timeout', async () => {
    const { hooks, fake, registry } = agentHooks([{ name: 'stuck', preStartTunnelAgent: () => new Promise<void>(() => undefined) }], {
      timeoutMs: 10_000,
    });
    const p = hooks.preStart().catch((e: unknown) => e);
    await fake.tickAsync(10_000);
    expect(await p).toMatchObject({ code: 'ERR_HOOK_TIMEOUT', message: 'PreStartTunnelAgent hook "stuck" did not finish within 10s' });
    expect(await metricValue(registry, 'tunnel_hook_runs_total', { provider: 'stuck', phase: 'preStartTunnelAgent', result: 'timeout' })).toBe(1);
    await hooks.stop();
  });

  it('post-start runs once however often the agent reconnects', async () => {
    let runs = 0;
    const { hooks } = agentHooks([{ name: 'once', postStartTunnelAgent: () => void runs++ }]);
    const a = hooks.postStart();
    const b = hooks.postStart();
    expect(b).toBe(a);
    await a;
    await hooks.postStart();
    expect(runs).toBe(1);
    await hooks.stop();
  });

  it('post-start retries by default; stop() ends the retries and the hooks\' background work', async () => {
    let attempts = 0;
    let bgEnded = false;
    const { hooks, fake } = agentHooks([
      {
        name: 'reporter',
        postStartTunnelAgent: (ctx) => {
          attempts++;
          if (attempts === 1) {
            ctx.background('follow', (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => ((bgEnded = true), resolve()))));
          }
          throw new Error('meta cluster not reachable yet');
        },
      },
    ]);
    const p = hooks.postStart();
    await fake.tickAsync(1000);
    await fake.tickAsync(2000);
    expect(attempts).toBe(3);
    await hooks.stop();
    const report = await p;
    expect(report.aborted).toBe(true);
    expect(bgEnded).toBe(true);
    await fake.tickAsync(120_000);
    expect(attempts).toBe(3);
  });

  it('post-start with policy fail rejects, for the agent to exit', async () => {
    const { hooks } = agentHooks([{ name: 'strict', postStartTunnelAgent: () => Promise.reject(new Error('refused')) }], { failurePolicy: 'fail' });
    await expect(hooks.postStart()).rejects.toThrow('PostStartTunnelAgent hook "strict" failed: refused');
    await hooks.stop();
  });

  it('two agents on one registry share the hook metrics', async () => {
    const registry = new Registry();
    const logger = captureLogger().logger;
    const make = () =>
      createAgentHooks({
        providers: [{ name: 'p', preStartTunnelAgent: () => undefined }],
        clusterName: 'c',
        agentID: 'c',
        managedKubeConfig: {} as KubeConfig,
        metaKubeConfig: {} as KubeConfig,
        logger,
        registry,
      });
    const [a, b] = [make(), make()];
    await a.preStart();
    await b.preStart();
    await Promise.all([a.stop(), b.stop()]);
    expect(await metricValue(registry, 'tunnel_hook_runs_total', { provider: 'p', phase: 'preStartTunnelAgent', result: 'success' })).toBe(2);
  });
});

describe('createServerHooks', () => {
  it('runs agentConnected then agentDisconnected for an agent, in order, with its identity', async () => {
    const seen: string[] = [];
    const { clock } = fakeHookClock();
    const hooks = createServerHooks({
      providers: [
        {
          name: 'audit',
          agentConnected: async (ctx: ServerHookContext) => {
            await Promise.resolve();
            seen.push(`up ${ctx.agentID} ${ctx.identifiers.host?.join()} ${ctx.serverID}`);
          },
          agentDisconnected: (ctx) => void seen.push(`down ${ctx.agentID}`),
        },
      ],
      serverID: 'srv-1',
      logger: captureLogger().logger,
      registry: new Registry(),
      clock,
    });
    hooks.agentConnected({ agentID: 'cls-a', identifiers: { host: ['cls-a'] } });
    hooks.agentDisconnected({ agentID: 'cls-a' });
    await hooks.idle();
    expect(seen).toEqual(['up cls-a cls-a srv-1', 'down cls-a']);
    await hooks.stop();
  });

  it('a throwing or hanging server hook never reaches the caller: it is logged and counted', async () => {
    const { fake, clock } = fakeHookClock();
    const logs = captureLogger();
    const registry = new Registry();
    const hooks = createServerHooks({
      providers: [
        {
          name: 'thrower',
          agentConnected: () => {
            throw new Error('webhook down');
          },
        },
        { name: 'hanger', agentConnected: () => new Promise<void>(() => undefined) },
      ],
      serverID: 'srv-1',
      timeoutMs: 3000,
      logger: logs.logger,
      registry,
      clock,
    });
    expect(() => hooks.agentConnected({ agentID: 'cls-b' })).not.toThrow();
    await fake.tickAsync(3000);
    await hooks.idle();
    expect(logs.withMessage('hook failed').map((l) => [l.hook, l.agentID, l.error])).toEqual([
      ['thrower', 'cls-b', 'AgentConnected hook "thrower" failed: webhook down'],
      ['hanger', 'cls-b', 'AgentConnected hook "hanger" did not finish within 3s'],
    ]);
    expect(await metricValue(registry, 'tunnel_hook_runs_total', { provider: 'hanger', phase: 'agentConnected', result: 'timeout' })).toBe(1);
    await hooks.stop();
  });
});

describe('provider options', () => {
  it('parses --hook-option pairs; a later key wins; a value may hold "="', () => {
    expect(parseHookOptionPairs(['zone=ap-1', 'url=https://x/?a=b', 'zone=ap-2'])).toEqual({ zone: 'ap-2', url: 'https://x/?a=b' });
    expect(() => parseHookOptionPairs(['novalue'])).toThrow('invalid value "novalue" for --hook-option: must be KEY=VALUE');
  });

  it('parses Go durations and names the flag on a bad one', () => {
    expect(parseDurationOption('1h30m', 'x')).toBe(5_400_000);
    expect(parseDurationOption('1.5s', 'x')).toBe(1500);
    expect(parseDurationOption('250ms', 'x')).toBe(250);
    expect(() => parseDurationOption('10', 'credential-token-ttl')).toThrow(
      'invalid value "10" for --credential-token-ttl: must be a duration such as 30m or 1h',
    );
  });
});
