/**
 * Test support for the hooks: a fake clock as a HookClock, a logger whose
 * lines the test can read, run environments for runHooks, and a pair of
 * fake Kubernetes APIs (meta and managed) with the objects and the
 * least-privilege permissions the credential providers need.
 */
import { Writable } from 'node:stream';
import FakeTimers from '@sinonjs/fake-timers';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import winston from 'winston';
import {
  BackgroundTasks,
  createAgentHooks,
  HookMetrics,
  loadHookProviders,
  type AgentHookFields,
  type AgentHooks,
  type HookClock,
  type HookFailurePolicy,
  type HookOptions,
  type HookRunEnv,
} from '../../../src/hooks/index.js';
import { createTokenReviewer } from '../../../src/kube/index.js';
import type { Logger } from '../../../src/observability/logger.js';
import { startFakeKube, type FakeKube } from '../../support/fake-kube/index.js';
import { clusterCredentialKind, configMapKind } from '../../support/fake-kube/kinds/index.js';
import type { ResourceKind } from '../../support/fake-kube/types.js';

/** A fake clock (`fake`, to tick) and the HookClock view of it (`clock`, to inject). */
export function fakeHookClock(start = Date.now()): { fake: FakeTimers.Clock; clock: HookClock } {
  const fake = FakeTimers.createClock(start);
  const clock: HookClock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => {
      if (h !== undefined) fake.clearTimeout(h as FakeTimers.TimerId);
    },
  };
  return { fake, clock };
}

/** A logger that keeps its lines as parsed JSON objects. */
export interface CapturedLogger {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Every line as JSON text, for "never contains" checks. */
  text(): string;
  /** Lines whose message is `message`. */
  withMessage(message: string): Record<string, unknown>[];
}

/** Builds a CapturedLogger (debug level, so every line is seen). */
export function captureLogger(): CapturedLogger {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return {
    logger,
    lines,
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
    withMessage: (m) => lines.filter((l) => l.message === m),
  };
}

/** A runHooks environment for agent hooks with a fake clock, fresh registry and captured logs. */
export function agentEnv(fields: Partial<AgentHookFields> = {}): {
  env: HookRunEnv<AgentHookFields>;
  life: AbortController;
  fake: FakeTimers.Clock;
  registry: Registry;
  logs: CapturedLogger;
  background: BackgroundTasks;
} {
  const { fake, clock } = fakeHookClock();
  const life = new AbortController();
  const registry = new Registry();
  const logs = captureLogger();
  const background = new BackgroundTasks(life.signal, clock);
  const env: HookRunEnv<AgentHookFields> = {
    fields: {
      clusterName: 'cls-a',
      agentID: 'cls-a',
      managedKubeConfig: {} as KubeConfig,
      metaKubeConfig: {} as KubeConfig,
      options: {},
      ...fields,
    },
    logger: logs.logger,
    signal: life.signal,
    clock,
    metrics: new HookMetrics(registry),
    background,
  };
  return { env, life, fake, registry, logs, background };
}

/** The value of a counter or histogram-count series, 0 when absent. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const base = name.replace(/_(count|sum|bucket)$/, '');
  const m = registry.getSingleMetric(base);
  if (!m) return 0;
  const data = await m.get();
  const match = data.values.find(
    (v) => ((v as { metricName?: string }).metricName ?? base) === name && Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val),
  );
  return match?.value ?? 0;
}

/** Where the credential providers read and write in the two fake clusters. */
export const CREDENTIAL_SA = { namespace: 'tunnel-system', name: 'tunnel-credential' };
export const AGENT_SA = { namespace: 'tunnel-system', name: 'tunnel-agent' };
export const META_AGENT_USER = 'tunnel-agent-cls-a';
export const CLUSTER_CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIB-managed-cluster-ca\n-----END CERTIFICATE-----\n';

/** Two running fake APIs and the agent's least-privilege clients of them. */
export interface TwoClusters {
  meta: FakeKube;
  managed: FakeKube;
  /** The agent's ServiceAccount in the managed cluster, limited to the managed-cluster RBAC of the providers. */
  managedKc: KubeConfig;
  /** The agent's user in the meta cluster, limited to ClusterCredentials and Secrets in tke-anp-tunnel. */
  metaKc: KubeConfig;
  close(): Promise<void>;
}

/**
 * Starts the meta and managed fakes: the credential ServiceAccount, its
 * token Secret and the kube-root-ca.crt ConfigMap in the managed cluster;
 * the agent allowed only what deploy's RBAC grants.
 */
export async function startTwoClusters(opts: { metaKinds?: ResourceKind[] } = {}): Promise<TwoClusters> {
  const meta = await startFakeKube({ kinds: opts.metaKinds ?? [clusterCredentialKind], namespaces: ['tke-anp-tunnel'] });
  const managed = await startFakeKube({ kinds: [configMapKind], namespaces: ['tunnel-system'] });

  managed.store.create('serviceaccounts', { metadata: { namespace: CREDENTIAL_SA.namespace, name: CREDENTIAL_SA.name } });
  if (AGENT_SA.name !== CREDENTIAL_SA.name) managed.store.create('serviceaccounts', { metadata: { namespace: AGENT_SA.namespace, name: AGENT_SA.name } });
  managed.store.create('configmaps', {
    metadata: { namespace: CREDENTIAL_SA.namespace, name: 'kube-root-ca.crt' },
    data: { 'ca.crt': CLUSTER_CA_PEM },
  });
  const agentUser = `system:serviceaccount:${AGENT_SA.namespace}:${AGENT_SA.name}`;
  const ns = [CREDENTIAL_SA.namespace];
  managed.allowRule(agentUser, { verbs: ['create'], resources: ['serviceaccounts/token'], namespaces: ns, names: [CREDENTIAL_SA.name] });
  managed.allowRule(agentUser, { verbs: ['get'], resources: ['configmaps'], namespaces: ns, names: ['kube-root-ca.crt'] });
  managed.allowRule(agentUser, { verbs: ['get'], resources: ['secrets'], namespaces: ns, names: [`${CREDENTIAL_SA.name}-token`] });
  // A real API server authorizes a watch with fieldSelector=metadata.name=X against resourceNames [X];
  // the fake's authorizer sees no name on a watch, so this rule cannot carry the name.
  managed.allowRule(agentUser, { verbs: ['watch'], resources: ['secrets'], namespaces: ns });
  const managedKc = managed.kubeConfigForToken(managed.issueToken(AGENT_SA.namespace, AGENT_SA.name, { expirationSeconds: 86_400 }));

  meta.addUser({ name: META_AGENT_USER, token: `meta-token-${Math.random().toString(36).slice(2)}` });
  meta.allowRule(META_AGENT_USER, { verbs: ['get', 'list', 'patch'], resources: ['clustercredentials'], apiGroups: ['platform.tkestack.io'] });
  meta.allowRule(META_AGENT_USER, { verbs: ['create', 'get', 'update'], resources: ['secrets'], namespaces: ['tke-anp-tunnel'] });
  const metaKc = meta.kubeConfig(META_AGENT_USER);

  return {
    meta,
    managed,
    managedKc,
    metaKc,
    close: async () => {
      await Promise.all([meta.close(), managed.close()]);
    },
  };
}

/** Seeds a ClusterCredential in the meta fake. */
export function seedClusterCredential(meta: FakeKube, name: string, clusterName: string, extra: Record<string, unknown> = {}): void {
  meta.store.create('clustercredentials.platform.tkestack.io', {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'ClusterCredential',
    metadata: { name },
    clusterName,
    tenantID: 'default',
    ...extra,
  });
}

/** A ClusterCredential as stored in the meta fake. */
export function storedCredential(meta: FakeKube, name: string): { token?: string; caCert?: string; clusterName?: string } {
  return meta.store.get('clustercredentials.platform.tkestack.io', undefined, name) as { token?: string; caCert?: string; clusterName?: string };
}

/** An agent's hooks running one built-in provider against the two fakes, on a fake clock. */
export interface ProviderRun {
  hooks: AgentHooks;
  fake: FakeTimers.Clock;
  logs: CapturedLogger;
  registry: Registry;
}

/** Loads built-in provider `name` as the agent of cluster `cls-a` would, and builds its hooks (not started). */
export async function providerHooks(
  name: string,
  clusters: TwoClusters,
  opts: { options?: HookOptions; failurePolicy?: HookFailurePolicy; metaKc?: KubeConfig; managedKc?: KubeConfig; clusterName?: string } = {},
): Promise<ProviderRun> {
  const { fake, clock } = fakeHookClock();
  const logs = captureLogger();
  const registry = new Registry();
  const options = opts.options ?? {};
  const providers = await loadHookProviders({ role: 'agent', providers: [name], options, logger: logs.logger });
  const hooks = createAgentHooks({
    providers,
    clusterName: opts.clusterName ?? 'cls-a',
    agentID: opts.clusterName ?? 'cls-a',
    managedKubeConfig: opts.managedKc ?? clusters.managedKc,
    metaKubeConfig: opts.metaKc ?? clusters.metaKc,
    options,
    logger: logs.logger,
    registry,
    clock,
    ...(opts.failurePolicy ? { failurePolicy: opts.failurePolicy } : {}),
    backoff: { random: () => 0 },
  });
  return { hooks, fake, logs, registry };
}

/** Who the managed fake says a token belongs to (TokenReview), or undefined when it is not valid. */
export async function tokenOwner(managed: FakeKube, token: string | undefined): Promise<string | undefined> {
  if (!token) return undefined;
  const r = await createTokenReviewer(managed.kubeConfig()).review(token, []);
  return r.authenticated ? r.username : undefined;
}

/** Seeds the credential ServiceAccount's token Secret in the managed fake with `token`. */
export function seedTokenSecret(managed: FakeKube, token: string, extra: { caPem?: string } = {}): void {
  managed.store.create('secrets', {
    metadata: {
      namespace: CREDENTIAL_SA.namespace,
      name: `${CREDENTIAL_SA.name}-token`,
      annotations: { 'kubernetes.io/service-account.name': CREDENTIAL_SA.name },
    },
    type: 'kubernetes.io/service-account-token',
    stringData: { token, ...(extra.caPem ? { 'ca.crt': extra.caPem } : {}) },
  });
}
