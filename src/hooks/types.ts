/**
 * The hook plug-in interface: what a provider is, what each hook is given,
 * and how a user module exports one. A user module may
 * `import type { HookProvider } from '.../hooks/index.js'`, which loads
 * nothing at run time.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import type { HookClock } from './clock.js';

/** Hooks run by the agent: before it connects, and once after its first server connection is up. */
export type AgentHookPhase = 'preStartTunnelAgent' | 'postStartTunnelAgent';

/** Hooks run by the server when an agent connection is registered or removed. */
export type ServerHookPhase = 'agentConnected' | 'agentDisconnected';

/** Any hook, named as the provider method that implements it. */
export type HookPhase = AgentHookPhase | ServerHookPhase;

/** Which binary loads the providers. */
export type HookRole = 'agent' | 'server';

/**
 * The providers' own settings, by flag name without dashes
 * (`credential-service-account` → `tunnel-system/tunnel-credential`), as
 * given on the command line; providers parse what they use.
 */
export type HookOptions = Readonly<Record<string, string>>;

/** Work a hook leaves running after it returns (e.g. a credential refresh loop). */
export type BackgroundTask = (signal: AbortSignal) => Promise<void>;

/** What every hook is given, agent or server side. */
export interface HookContextBase {
  /** Logger with `hook` (the provider name) and `phase` set; never log tokens with it. */
  readonly logger: Logger;
  /**
   * Aborted when this run must end: its timeout passed (--hook-timeout) or
   * the process is stopping. Pass it to every request the hook makes.
   */
  readonly signal: AbortSignal;
  /** The providers' options (see HookOptions). */
  readonly options: HookOptions;
  /** Timers to use instead of the global ones, so tests can drive them. */
  readonly clock: HookClock;
  /**
   * Starts work that outlives this run, such as re-reporting a credential
   * when it rotates. The task's signal is aborted when the process stops
   * (not when this run times out); its errors are logged; stop waits for it.
   */
  background(name: string, task: BackgroundTask): void;
}

/** What an agent hook is given. */
export interface AgentHookContext extends HookContextBase {
  readonly phase: AgentHookPhase;
  /** The managed cluster's name (--cluster-name). */
  readonly clusterName: string;
  /** This agent's id (--agent-id). */
  readonly agentID: string;
  /** A client configuration of the managed cluster: in-cluster, or the agent's --kubeconfig. */
  readonly managedKubeConfig: KubeConfig;
  /**
   * A client configuration of the meta cluster. It reaches the meta
   * kube-apiserver through the tunnel (pull mode), so it works from
   * postStartTunnelAgent on, not in preStartTunnelAgent.
   */
  readonly metaKubeConfig: KubeConfig;
}

/** What a server hook is given. */
export interface ServerHookContext extends HookContextBase {
  readonly phase: ServerHookPhase;
  /** The id the agent announced (its cluster name for our agents). */
  readonly agentID: string;
  /** The identifiers the agent announced and was allowed, e.g. `{ host: ['cluster-a'] }`. */
  readonly identifiers: Readonly<Record<string, readonly string[]>>;
  /** This server's id. */
  readonly serverID: string;
}

/** A hook implementation: may return a promise; a rejection or a throw is a failed run. */
export type HookFn<C> = (ctx: C) => void | Promise<void>;

/**
 * A hook provider. It needs a name and at least one hook; the agent calls
 * the agent hooks and the server the server hooks, each in the order the
 * providers were given.
 */
export interface HookProvider {
  /** Shown in logs and as the `provider` label of the hook metrics. */
  readonly name: string;
  /** Before the agent connects to any server; a failure stops the agent (policy fail, the default). */
  preStartTunnelAgent?: HookFn<AgentHookContext>;
  /** After the agent's first server connection is up; retried with backoff by default. */
  postStartTunnelAgent?: HookFn<AgentHookContext>;
  /** On the server, after an agent connection is registered. */
  agentConnected?: HookFn<ServerHookContext>;
  /** On the server, after an agent connection is gone. */
  agentDisconnected?: HookFn<ServerHookContext>;
}

/** What a provider factory is given when the providers are loaded. */
export interface HookProviderInit {
  /** The binary that loads it; a provider checks only the options of the role it serves. */
  readonly role: HookRole;
  /** The providers' options; a factory should reject bad ones here, so the start fails early. */
  readonly options: HookOptions;
  /** Logger with `hook` set to the module's name. */
  readonly logger: Logger;
}

/** A function that builds a provider (may be async): the other shape of a module's default export. */
export type HookProviderFactory = (init: HookProviderInit) => HookProvider | Promise<HookProvider>;

/** What the default export of a hook module may be. */
export type HookModuleExport = HookProvider | HookProviderFactory;

/** The agent hook methods, in the order they run. */
export const AGENT_HOOK_PHASES: readonly AgentHookPhase[] = ['preStartTunnelAgent', 'postStartTunnelAgent'];

/** The server hook methods. */
export const SERVER_HOOK_PHASES: readonly ServerHookPhase[] = ['agentConnected', 'agentDisconnected'];

/** Every hook method. */
export const HOOK_PHASES: readonly HookPhase[] = [...AGENT_HOOK_PHASES, ...SERVER_HOOK_PHASES];

/** How operators know the hooks (the original's Go names): `PreStartTunnelAgent`, `AgentConnected`. */
export function phaseTitle(phase: HookPhase): string {
  return phase.charAt(0).toUpperCase() + phase.slice(1);
}
