/**
 * Security review of every deploy file and of the chart in every tested
 * configuration: no host namespaces, locked-down containers, probes and
 * resources, only the agent port public, least-privilege RBAC. The checks
 * themselves are shown to catch each kind of mistake.
 */
import { describe, expect, it } from '@jest/globals';
import { CHART_CASES } from './support/chart-cases.js';
import { plainObjects, podSpecOf, type K8sObject } from './support/deploy-files.js';
import { renderObjects } from './support/render.js';
import {
  allSecurityProblems,
  containerSecurityProblems,
  hostNamespaceProblems,
  probeAndResourceProblems,
  publicServiceProblems,
  rbacProblems,
} from './support/security.js';

const plain = plainObjects().map(({ obj }) => obj);
const sources: [string, () => K8sObject[]][] = [
  ['plain manifests', () => plain],
  ...CHART_CASES.map((c): [string, () => K8sObject[]] => [`chart: ${c.name}`, () => renderObjects(c.values, c.extra).objects]),
];

describe.each(sources)('%s', (_name, load) => {
  const objects = load();

  it('has workloads to check', () => {
    expect(objects.some((o) => podSpecOf(o) !== undefined)).toBe(true);
  });

  it('uses no hostNetwork, hostPID or hostIPC', () => {
    expect(hostNamespaceProblems(objects)).toEqual([]);
  });

  it('runs every container non-root with a read-only root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(containerSecurityProblems(objects)).toEqual([]);
  });

  it('probes /healthz and /readyz on the health port and sets requests and limits', () => {
    expect(probeAndResourceProblems(objects)).toEqual([]);
  });

  it('publishes only the agent port outside the cluster', () => {
    expect(publicServiceProblems(objects)).toEqual([]);
  });

  it('grants no wildcard, no escalation and no cluster-wide secrets in RBAC', () => {
    expect(rbacProblems(objects)).toEqual([]);
  });
});

describe('the checks catch mistakes', () => {
  const deployment = (): K8sObject => structuredClone(plain.find((o) => o.kind === 'Deployment')!);
  const pod = (o: K8sObject) => podSpecOf(o)!;

  it('hostNetwork', () => {
    const d = deployment();
    pod(d).hostNetwork = true;
    expect(hostNamespaceProblems([d])).toEqual([expect.stringContaining('hostNetwork')]);
  });

  it('a root or writable container', () => {
    const d = deployment();
    const c = pod(d).containers[0]!;
    c.securityContext = { ...c.securityContext, readOnlyRootFilesystem: false, runAsUser: 0 };
    const problems = containerSecurityProblems([d]).join('\n');
    expect(problems).toMatch(/readOnlyRootFilesystem/);
    expect(problems).toMatch(/runAsUser/);
  });

  it('a container without probes or limits', () => {
    const d = deployment();
    const c = pod(d).containers[0]!;
    delete c.readinessProbe;
    delete c.resources!.limits;
    const problems = probeAndResourceProblems([d]).join('\n');
    expect(problems).toMatch(/readiness/);
    expect(problems).toMatch(/no memory limit/);
  });

  it('a public Service exposing the frontend', () => {
    const svc: K8sObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'oops', namespace: 'tunnel-system' },
      spec: { type: 'LoadBalancer', selector: { 'app.kubernetes.io/component': 'server' }, ports: [{ name: 'frontend', port: 8090, targetPort: 'frontend' }] },
    };
    expect(publicServiceProblems([svc])).toEqual([expect.stringContaining('not the agent port')]);
  });

  it('wildcards and cluster-wide secrets', () => {
    const role: K8sObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'oops' },
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      ],
    };
    const problems = rbacProblems([role]).join('\n');
    expect(problems).toMatch(/secrets in a ClusterRole/);
    expect(problems).toMatch(/wildcard resource/);
    expect(problems).toMatch(/dangerous verb/);
    expect(problems).toMatch(/wildcard API group/);
  });

  it('nothing is flagged in the real files (all checks at once)', () => {
    expect(allSecurityProblems(plain)).toEqual([]);
  });
});
