/**
 * Hooks: the provider interface (types a user module may `import type`),
 * loading providers by name or path, the runner with timeout, failure
 * policy and metrics, and the agent's and server's entry points.
 */
export { createAgentHooks, type AgentHooks, type AgentHooksOptions } from './agent-hooks.js';
export { HookBackoff, type HookBackoffOptions } from './backoff.js';
export { BackgroundTasks } from './background.js';
export { realHookClock, sleep, type HookClock } from './clock.js';
export * from './defaults.js';
export { errorText, HookError, type HookErrorCode } from './errors.js';
export { BUILT_IN_HOOKS_DIR, listBuiltInProviders, loadHookProviders, type LoadHookProvidersOptions } from './loader.js';
export { HookMetrics, type HookRunResult } from './metrics.js';
export {
  HOOK_OPTION_SPECS,
  optionOr,
  parseDurationOption,
  parseHookOptionPairs,
  parseNamespacedName,
  type HookOptionSpec,
} from './options.js';
export { failurePolicyFor, HOOK_FAILURE_POLICIES, parseHookFailurePolicy, type HookFailurePolicy } from './policy.js';
export { formatDuration, runOnce, type RunOnceEnv, type RunOutcome } from './run-once.js';
export {
  runHooks,
  type AgentHookFields,
  type HookProviderReport,
  type HookRunEnv,
  type HookRunPolicy,
  type HookRunReport,
  type ServerHookFields,
} from './runner.js';
export { createServerHooks, type HookAgentInfo, type ServerHooks, type ServerHooksOptions } from './server-hooks.js';
export { asHookProvider, providerFromModule } from './shape.js';
export {
  AGENT_HOOK_PHASES,
  HOOK_PHASES,
  phaseTitle,
  SERVER_HOOK_PHASES,
  type AgentHookContext,
  type AgentHookPhase,
  type BackgroundTask,
  type HookContextBase,
  type HookFn,
  type HookModuleExport,
  type HookOptions,
  type HookPhase,
  type HookProvider,
  type HookProviderFactory,
  type HookProviderInit,
  type HookRole,
  type ServerHookContext,
  type ServerHookPhase,
} from './types.js';
