/**
 * What a security reviewer checks in the deploy files, as functions that
 * list the problems found in a set of objects (empty = fine). Each names the
 * object and what is wrong.
 */
import {
  allContainers,
  podSpecOf,
  rulesOf,
  serviceSpec,
  type Container,
  type K8sObject,
  type PodSpec,
} from './deploy-files.js';

const id = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

function pods(objects: K8sObject[]): { o: K8sObject; pod: PodSpec }[] {
  return objects.flatMap((o) => {
    const pod = podSpecOf(o);
    return pod ? [{ o, pod }] : [];
  });
}

/** No hostNetwork, hostPID or hostIPC anywhere. */
export function hostNamespaceProblems(objects: K8sObject[]): string[] {
  return pods(objects).flatMap(({ o, pod }) =>
    (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((k) => pod[k] === true).map((k) => `${id(o)}: ${k}`),
  );
}

/** Every container: non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp. */
export function containerSecurityProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  for (const { o, pod } of pods(objects)) {
    const podSc = pod.securityContext ?? {};
    for (const c of allContainers(pod)) {
      const sc = c.securityContext ?? {};
      const where = `${id(o)} container ${c.name}`;
      const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
      const uid = sc.runAsUser ?? podSc.runAsUser;
      if (nonRoot !== true) out.push(`${where}: runAsNonRoot is not true`);
      if (uid === undefined || uid === 0) out.push(`${where}: runAsUser must be a non-zero UID`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
      if (sc.privileged === true) out.push(`${where}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length > 0) out.push(`${where}: adds capabilities ${sc.capabilities!.add!.join(',')}`);
      if ((sc.seccompProfile ?? podSc.seccompProfile)?.type !== 'RuntimeDefault') out.push(`${where}: seccomp is not RuntimeDefault`);
    }
  }
  return out;
}

/** Every container: liveness /healthz and readiness /readyz on its health port, requests and limits. */
export function probeAndResourceProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  for (const { o, pod } of pods(objects)) {
    for (const c of pod.containers) {
      const where = `${id(o)} container ${c.name}`;
      const health = healthPort(c);
      if (c.livenessProbe?.httpGet?.path !== '/healthz') out.push(`${where}: liveness probe is not GET /healthz`);
      if (c.readinessProbe?.httpGet?.path !== '/readyz') out.push(`${where}: readiness probe is not GET /readyz`);
      for (const p of [c.livenessProbe?.httpGet?.port, c.readinessProbe?.httpGet?.port]) {
        if (p !== 'health' && p !== health) out.push(`${where}: probe port ${String(p)} is not the health port`);
      }
      for (const r of ['cpu', 'memory']) {
        if (!c.resources?.requests?.[r]) out.push(`${where}: no ${r} request`);
        if (!c.resources?.limits?.[r]) out.push(`${where}: no ${r} limit`);
      }
    }
  }
  return out;
}

function healthPort(c: Container): number | undefined {
  return c.ports?.find((p) => p.name === 'health')?.containerPort;
}

/** The agent port of the server, and the agent's health port, from the flags or the defaults. */
const SERVER_AGENT_PORT = 8091;

/**
 * Services reachable from outside the cluster (LoadBalancer, NodePort,
 * externalIPs) publish only the server's agent port, named "agent".
 */
export function publicServiceProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'Service')) {
    const spec = serviceSpec(o);
    const external = spec.type === 'LoadBalancer' || spec.type === 'NodePort' || 'externalIPs' in (spec as object);
    if (!external) continue;
    if (spec.ports.length !== 1) out.push(`${id(o)}: public Service with ${spec.ports.length} ports`);
    for (const p of spec.ports) {
      if (p.name !== 'agent' || p.port !== SERVER_AGENT_PORT || p.targetPort !== 'agent') {
        out.push(`${id(o)}: public port ${p.name}/${p.port} -> ${String(p.targetPort)} is not the agent port`);
      }
    }
    if (!/server/.test(spec.selector?.['app.kubernetes.io/component'] ?? '')) out.push(`${id(o)}: public Service does not select the server`);
  }
  return out;
}

const DANGEROUS_VERBS = ['escalate', 'bind', 'impersonate', '*'];

/**
 * RBAC: never `*` in verbs, resources or API groups; never escalate, bind or
 * impersonate; no secrets in ClusterRoles (cluster-wide); no secrets rules in
 * a Role beyond get/watch/update by name and create.
 */
export function rbacProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
    if ('aggregationRule' in o) out.push(`${id(o)}: aggregation rule`);
    for (const r of rulesOf(o)) {
      const where = `${id(o)} rule ${JSON.stringify(r)}`;
      if (r.verbs.some((v) => DANGEROUS_VERBS.includes(v))) out.push(`${where}: dangerous verb`);
      if ((r.resources ?? []).some((x) => x.includes('*'))) out.push(`${where}: wildcard resource`);
      if ((r.apiGroups ?? []).includes('*')) out.push(`${where}: wildcard API group`);
      if (r.nonResourceURLs) out.push(`${where}: non-resource URLs`);
      const secrets = (r.resources ?? []).includes('secrets');
      if (secrets && o.kind === 'ClusterRole') out.push(`${where}: secrets in a ClusterRole (cluster-wide)`);
      if (secrets && o.kind === 'Role') {
        const named = (r.resourceNames ?? []).length > 0;
        const ok = named ? r.verbs.every((v) => ['get', 'watch', 'update'].includes(v)) : r.verbs.every((v) => v === 'create');
        if (!ok) out.push(`${where}: secrets beyond get/watch/update by name and create`);
      }
    }
  }
  // A RoleBinding must not hand a ClusterRole's rights (e.g. admin, edit) to anyone.
  for (const o of objects.filter((x) => x.kind === 'RoleBinding' || x.kind === 'ClusterRoleBinding')) {
    const ref = o['roleRef'] as { kind: string; name: string };
    const defined = objects.some((x) => x.kind === ref.kind && x.metadata.name === ref.name);
    if (!defined) out.push(`${id(o)}: binds ${ref.kind}/${ref.name}, which the deploy files do not define`);
  }
  return out;
}

/** Every check at once. */
export function allSecurityProblems(objects: K8sObject[]): string[] {
  return [
    ...hostNamespaceProblems(objects),
    ...containerSecurityProblems(objects),
    ...probeAndResourceProblems(objects),
    ...publicServiceProblems(objects),
    ...rbacProblems(objects),
  ];
}
