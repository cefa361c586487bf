import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import {
  createAgentHooks,
  createServerHooks,
  HookError,
  listBuiltInProviders,
  loadHookProviders,
  type HookProvider,
} from '../../../src/hooks/index.js';
import { captureLogger, metricValue } from './helpers.js';

async function loadError(p: Promise<unknown>): Promise<HookError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HookError)) throw new Error(`expected a HookError, got ${String(err)}`);
  return err;
}

describe('loading hook providers', () => {
  let dir: string;
  const module = (name: string, source: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, source);
    return file;
  };
  const silent = captureLogger().logger;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hook-modules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the built-in providers next to the compiled loader', () => {
    expect(listBuiltInProviders()).toEqual(expect.arrayContaining(['example', 'tke', 'tkestack']));
  });

  it('loads a built-in provider by name, and it runs: the example logs the cluster name at pre-start', async () => {
    const logs = captureLogger();
    const providers = await loadHookProviders({ role: 'agent', providers: ['example'], logger: logs.logger });
    expect(providers.map((p) => p.name)).toEqual(['example']);
    const hooks = createAgentHooks({
      providers,
      clusterName: 'cls-example',
      agentID: 'agent-1',
      managedKubeConfig: {} as KubeConfig,
      metaKubeConfig: {} as KubeConfig,
      logger: logs.logger,
      registry: new Registry(),
    });
    await hooks.preStart();
    await hooks.stop();
    expect(logs.withMessage('example hook: agent starting')).toEqual([
      expect.objectContaining({ clusterName: 'cls-example', agentID: 'agent-1', hook: 'example', phase: 'preStartTunnelAgent' }),
    ]);
  });

  it('the example provider logs agent connections on the server side', async () => {
    const logs = captureLogger();
    const registry = new Registry();
    const hooks = createServerHooks({
      providers: await loadHookProviders({ role: 'server', providers: ['example'], logger: logs.logger }),
      serverID: 'server-1',
      logger: logs.logger,
      registry,
    });
    hooks.agentConnected({ agentID: 'cls-a', identifiers: { host: ['cls-a'] } });
    await hooks.idle();
    await hooks.stop();
    expect(logs.withMessage('example hook: agent connected')).toEqual([
      expect.objectContaining({ agentID: 'cls-a', identifiers: { host: ['cls-a'] }, serverID: 'server-1', hook: 'example' }),
    ]);
    expect(await metricValue(registry, 'tunnel_hook_runs_total', { provider: 'example', phase: 'agentConnected', result: 'success' })).toBe(1);
  });

  it('refuses an unknown provider name and lists the known ones', async () => {
    const err = await loadError(loadHookProviders({ role: 'agent', providers: ['tkestak'], logger: silent }));
    expect(err.code).toBe('ERR_HOOK_UNKNOWN_PROVIDER');
    expect(err.message).toMatch(/^unknown hook provider "tkestak" \(--hook-provider\); known providers: (.*, )?example, tke, tkestack/);
  });

  it('does not let a provider name walk out of the hooks folder', async () => {
    const err = await loadError(loadHookProviders({ role: 'agent', providers: ['../src'], logger: silent }));
    expect(err.code).toBe('ERR_HOOK_UNKNOWN_PROVIDER');
  });

  it('loads a user module by a path relative to the working directory; its hooks run after the built-ins', async () => {
    mkdirSync(path.join(dir, 'mods'), { recursive: true });
    module(
      'mods/mine.mjs',
      `export default {
        name: 'mine',
        async preStartTunnelAgent(ctx) { ctx.logger.info('mine ran', { cluster: ctx.clusterName, zone: ctx.options.zone }); },
      };`,
    );
    const logs = captureLogger();
    const providers = await loadHookProviders({
      role: 'agent',
      providers: ['example'],
      modules: ['mods/mine.mjs'],
      cwd: dir,
      logger: logs.logger,
    });
    expect(providers.map((p) => p.name)).toEqual(['example', 'mine']);
    const hooks = createAgentHooks({
      providers,
      clusterName: 'cls-b',
      agentID: 'cls-b',
      managedKubeConfig: {} as KubeConfig,
      metaKubeConfig: {} as KubeConfig,
      options: { zone: 'ap-guangzhou' },
      logger: logs.logger,
      registry: new Registry(),
    });
    const report = await hooks.preStart();
    await hooks.stop();
    expect(report.providers.map((p) => p.provider)).toEqual(['example', 'mine']);
    expect(logs.withMessage('mine ran')).toEqual([expect.objectContaining({ cluster: 'cls-b', zone: 'ap-guangzhou', hook: 'mine' })]);
  });

  it('calls a factory export with the role and the options, and uses what it returns', async () => {
    const file = module(
      'factory.mjs',
      `export default async function (init) {
        return { name: 'made-' + init.role + '-' + init.options.flavour, agentConnected() {} };
      }`,
    );
    const [p] = await loadHookProviders({ role: 'server', modules: [file], options: { flavour: 'plain' }, logger: silent });
    expect((p as HookProvider).name).toBe('made-server-plain');
  });

  it.each([
    ['no default export', 'export const provider = { name: "x", preStartTunnelAgent() {} };', /has no default export; expected a provider object with a "name"/],
    ['a number', 'export default 42;', /expected a provider object .* got a number$/],
    ['no name', 'export default { preStartTunnelAgent() {} };', /the provider has no "name"/],
    ['no hook', 'export default { name: "lazy" };', /provider "lazy" has none of preStartTunnelAgent, postStartTunnelAgent, agentConnected, agentDisconnected/],
    ['a hook that is not a function', 'export default { name: "odd", postStartTunnelAgent: "yes" };', /"postStartTunnelAgent" of provider "odd" is a string, not a function/],
    ['a factory returning nothing', 'export default function () { return undefined; }', /: its factory's result: expected a provider object .* got undefined$/],
    ['a factory that throws', 'export default function () { throw new Error("no credentials"); }', /its factory failed: no credentials$/],
  ])('rejects a module with %s, saying what a provider must look like', async (_what, source, message) => {
    const file = module(`bad-${Math.random().toString(36).slice(2)}.mjs`, source);
    const err = await loadError(loadHookProviders({ role: 'agent', modules: [file], logger: silent }));
    expect(err.code).toBe('ERR_HOOK_INVALID');
    expect(err.message.startsWith(`hook module ${file} (--hook-module): `)).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('rejects a module that does not exist or does not parse', async () => {
    const missing = path.join(dir, 'nope.mjs');
    const e1 = await loadError(loadHookProviders({ role: 'agent', modules: [missing], logger: silent }));
    expect(e1).toMatchObject({ code: 'ERR_HOOK_MODULE', message: `hook module ${missing} (--hook-module): no such file` });
    const broken = module('broken.mjs', 'export default { name: "x", ');
    const e2 = await loadError(loadHookProviders({ role: 'agent', modules: [broken], logger: silent }));
    expect(e2.code).toBe('ERR_HOOK_MODULE');
    expect(e2.message).toMatch(new RegExp(`^hook module ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(--hook-module\\): cannot be loaded: `));
  });

  it('rejects two providers with one name', async () => {
    const file = module('twin.mjs', 'export default { name: "example", preStartTunnelAgent() {} };');
    const err = await loadError(loadHookProviders({ role: 'agent', providers: ['example'], modules: [file], logger: silent }));
    expect(err.code).toBe('ERR_HOOK_INVALID');
    expect(err.message).toContain('a hook provider named "example" is already loaded');
  });

  it('stops the start when a built-in provider is given a bad option', async () => {
    const err = await loadError(
      loadHookProviders({ role: 'agent', providers: ['tkestack'], options: { 'credential-service-account': 'just-a-name' }, logger: silent }),
    );
    expect(err).toMatchObject({
      code: 'ERR_HOOK_OPTIONS',
      message: 'invalid value "just-a-name" for --credential-service-account: must be NAMESPACE/NAME',
    });
    const ttl = await loadError(
      loadHookProviders({ role: 'agent', providers: ['tke'], options: { 'credential-token-ttl': '5m' }, logger: silent }),
    );
    expect(ttl.message).toBe('invalid value "5m" for --credential-token-ttl: must be at least 10m (the API\'s minimum)');
  });

  it('warns about a provider without hooks for the role that loads it', async () => {
    const logs = captureLogger();
    await loadHookProviders({ role: 'server', providers: ['tkestack'], logger: logs.logger });
    expect(logs.withMessage('hook provider has no hooks for this role')).toEqual([expect.objectContaining({ hook: 'tkestack', role: 'server' })]);
  });
});
