/**
 * The Helm chart, rendered with deploy/helm/render.mjs for both topologies,
 * each role alone and together, with and without the features in
 * development: the output parses, passes kubectl's client dry run, runs
 * command lines the CLI accepts, and matches the plain manifests.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { CHART_CASES } from './support/chart-cases.js';
import { CliSandbox, FUTURE_FLAGS } from './support/cli-check.js';
import { deployDir, flagValue, loadFile, podSpecOf, serviceSpec, type K8sObject } from './support/deploy-files.js';
import { findKubectl, startKubectl, type Kubectl } from './support/kubectl.js';
import { example, renderObjects, runRender } from './support/render.js';
import { schemaProblems } from './support/schema.js';
import { chartDir } from './support/deploy-files.js';

const find = (objects: K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const argsOf = (d: K8sObject): string[] => podSpecOf(d)!.containers[0]!.args!;
const plainDoc = (file: string, kind: string): K8sObject =>
  (loadFile(path.join(deployDir, file)).docs as K8sObject[]).find((o) => o.kind === kind)!;

describe.each(CHART_CASES.map((c) => [c.name, c] as const))('chart: %s', (_name, c) => {
  const { stream, objects } = renderObjects(c.values, c.extra);
  const sandbox = new CliSandbox();
  let kubectl: Kubectl;
  beforeAll(async () => {
    if (!findKubectl()) throw new Error('kubectl is not on PATH: these tests need the kubectl client (e.g. apt-get install kubernetes-client)');
    kubectl = await startKubectl();
  });
  afterAll(async () => {
    sandbox.remove();
    await kubectl?.close();
  });

  it('renders Kubernetes objects in the release namespace, each with a Source comment', () => {
    expect(objects.length).toBeGreaterThan(3);
    expect(stream.match(/^# Source: tke-anp-tunnel\/templates\/[a-z-]+\.yaml$/gm)?.length).toBe(objects.length);
    for (const o of objects) {
      const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'Namespace'].includes(o.kind);
      expect(o.metadata.namespace).toBe(clusterScoped ? undefined : 'tunnel-system');
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    }
  });

  it('passes kubectl create --dry-run=client', async () => {
    const r = await kubectl.dryRun({ stdin: stream });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(objects.length);
  });

  it('passes a strict field check against the Kubernetes API types', () => {
    const found = objects.map((o) => ({ object: `${o.kind}/${o.metadata.name}`, problems: schemaProblems(o) }));
    expect(found.filter((f) => f.problems.length > 0)).toEqual([]);
  });

  it('has no duplicate objects', () => {
    const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('runs command lines the CLI accepts; future flags only where their feature is switched on', () => {
    const workloads = objects.filter((o) => podSpecOf(o));
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const r = sandbox.check(podSpecOf(w)!.containers[0]!);
      expect(r.unknown).toEqual([]);
      if (!c.future) expect(r.setAside).toEqual([]);
      for (const f of r.setAside) expect(FUTURE_FLAGS[r.role]).toContain(f);
      // Without the flags set aside the rest may not stand alone (csr replaces the
      // certificate files); once the CLI knows them, the whole line must parse.
      if (r.setAside.length === 0) expect(r.error).toBeUndefined();
    }
  });

  it('selects its pods with the labels of its Services and PDB', () => {
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const sel = serviceSpec(svc).selector!;
      const match = objects.filter((o) => podSpecOf(o) && Object.entries(sel).every(([k, v]) => (o['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[k] === v));
      expect(match).toHaveLength(1);
    }
  });
});

describe('chart: topology', () => {
  it('one-to-many: replicas and --server-count agree, leases on, PDB, anti-affinity, LoadBalancer, mTLS agents', () => {
    const { objects } = renderObjects([example('one-to-many-server.yaml')]);
    const d = find(objects, 'Deployment', 'tunnel-server')!;
    const args = argsOf(d);
    expect((d['spec'] as { replicas: number }).replicas).toBe(3);
    expect(flagValue(args, 'server-count')).toBe('3');
    expect(flagValue(args, 'enable-lease-controller')).toBe('true');
    expect(flagValue(args, 'lease-namespace')).toBe('tunnel-system');
    expect(flagValue(args, 'cluster-ca-cert')).toBe('/etc/tunnel/pki/ca.crt');
    expect(flagValue(args, 'agent-namespace')).toBeUndefined();
    expect(podSpecOf(d)!.affinity?.podAntiAffinity).toBeDefined();
    expect(podSpecOf(d)!.containers[0]!.env).toContainEqual({ name: 'PROXY_SERVER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(find(objects, 'PodDisruptionBudget', 'tunnel-server')).toBeDefined();
    expect(find(objects, 'Role', 'tunnel-server-leases')).toBeDefined();
    expect(serviceSpec(find(objects, 'Service', 'tunnel-server')!).type).toBe('LoadBalancer');
    expect(serviceSpec(find(objects, 'Service', 'tunnel-server-frontend')!).type).toBe('ClusterIP');
  });

  it('one-to-one: one replica, --server-count=1, no leases or PDB, NodePort, token-authenticated agent', () => {
    const { objects } = renderObjects([example('one-to-one-server.yaml')], ['--set', 'server.replicas=5']);
    const d = find(objects, 'Deployment', 'tunnel-server')!;
    const args = argsOf(d);
    expect((d['spec'] as { replicas: number }).replicas).toBe(1);
    expect(flagValue(args, 'server-count')).toBe('1');
    expect(args.some((a) => a.startsWith('--enable-lease-controller'))).toBe(false);
    expect(flagValue(args, 'agent-service-account')).toBe('tunnel-agent');
    expect(flagValue(args, 'authentication-audience')).toBe('system:konnectivity-server');
    expect(flagValue(args, 'cluster-ca-cert')).toBeUndefined();
    expect(find(objects, 'PodDisruptionBudget', 'tunnel-server')).toBeUndefined();
    expect(objects.some((o) => o.kind === 'Role' && /leases/.test(o.metadata.name ?? ''))).toBe(false);
    expect(find(objects, 'ServiceAccount', 'tunnel-agent')).toBeDefined();
    expect(find(objects, 'ClusterRole', 'tunnel-server-tokenreview-tunnel-system')).toBeDefined();
    const svc = serviceSpec(find(objects, 'Service', 'tunnel-server')!);
    expect(svc.type).toBe('NodePort');
    expect(svc.ports[0]!.nodePort).toBe(31091);
  });

  it('one-to-one agent: token and CA from the bootstrap Secret, no client certificate', () => {
    const { objects } = renderObjects([example('one-to-one-agent.yaml')]);
    const args = argsOf(find(objects, 'Deployment', 'tunnel-agent')!);
    expect(flagValue(args, 'service-account-token-path')).toBe('/etc/tunnel/bootstrap/token');
    expect(flagValue(args, 'ca-cert')).toBe('/etc/tunnel/bootstrap/ca.crt');
    expect(flagValue(args, 'agent-cert')).toBeUndefined();
    expect(flagValue(args, 'proxy-server-port')).toBe('31091');
    expect(flagValue(args, 'pull-kube-ca-cert')).toBeUndefined();
  });

  it('csr agent with a chart-made bootstrap Secret: it holds meta-ca.crt for --pull-kube-ca-cert, and refuses to render without it', () => {
    const base = [example('one-to-many-agent.yaml'), example('csr-and-pull.yaml')];
    const set = ['--set', 'agent.bootstrap.create=true', '--set', 'agent.bootstrap.token=t', '--set', 'agent.bootstrap.caBundle=ca'];
    const secret = find(renderObjects(base, [...set, '--set', 'agent.bootstrap.metaCaBundle=meta']).objects, 'Secret', 'tunnel-agent-bootstrap')!;
    expect(secret['stringData']).toEqual({ token: 't', 'ca.crt': 'ca', 'meta-ca.crt': 'meta' });
    expect(() => renderObjects(base, set)).toThrow(/agent\.bootstrap\.metaCaBundle is required/);
    // Token auth (no csr) needs no meta apiserver CA.
    const files = find(renderObjects([example('one-to-one-agent.yaml')], set).objects, 'Secret', 'tunnel-agent-bootstrap')!;
    expect(Object.keys(files['stringData'] as object).sort()).toEqual(['ca.crt', 'token']);
  });

  it('server only renders no agent objects, agent only no server objects', () => {
    const server = renderObjects([example('one-to-many-server.yaml')]).objects;
    const agent = renderObjects([example('one-to-many-agent.yaml')]).objects;
    const component = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/component'];
    expect(server.filter((o) => ['agent', 'credential'].includes(component(o) ?? ''))).toEqual([]);
    expect(agent.filter((o) => component(o) === 'server' || component(o) === 'agent-bootstrap')).toEqual([]);
    expect(agent.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
  });

  it('agent: id and host identifier are the cluster name; the pull Service is tunnel-agent.<ns>', () => {
    const { objects } = renderObjects([example('one-to-many-agent.yaml'), example('csr-and-pull.yaml')]);
    const d = find(objects, 'Deployment', 'tunnel-agent')!;
    const c = podSpecOf(d)!.containers[0]!;
    expect(c.env).toContainEqual({ name: 'PROXY_AGENT_ID', value: 'cluster-a' });
    expect(flagValue(c.args!, 'agent-identifiers')).toBe('host=cluster-a');
    expect(flagValue(c.args!, 'cluster-name')).toBe('cluster-a');
    // csr without a meta kubeconfig: the CSR goes through pull mode to the meta apiserver, whose CA comes with the bootstrap Secret.
    expect(flagValue(c.args!, 'pull-kube-ca-cert')).toBe('/etc/tunnel/bootstrap/meta-ca.crt');
    expect(c.args!.filter((a) => a.startsWith('--pull-listen='))).toEqual(['--pull-listen=kubernetes=0.0.0.0:6443', '--pull-listen=norm=0.0.0.0:8080']);
    expect(flagValue(c.args!, 'pull-proxy')).toBe('0.0.0.0:3128');
    const svc = find(objects, 'Service', 'tunnel-agent')!;
    expect(svc.metadata.namespace).toBe('tunnel-system');
    expect(serviceSpec(svc).ports.map((p) => p.port).sort()).toEqual([3128, 6443, 8080]);
  });

  it('server: pull targets and allow rules become --pull-target/--pull-allow', () => {
    const args = argsOf(find(renderObjects([example('one-to-many-server.yaml'), example('csr-and-pull.yaml')]).objects, 'Deployment', 'tunnel-server')!);
    expect(args.filter((a) => a.startsWith('--pull-'))).toEqual(['--pull-target=norm=norm.platform.svc:80', '--pull-allow=*=kubernetes', '--pull-allow=cluster-a=norm']);
  });

  it('csr mode: CSR signer rights limited to the tunnel signers, the CA Secret by name, per-cluster bootstrap identities', () => {
    const { objects } = renderObjects([example('one-to-many-server.yaml'), example('csr-and-pull.yaml')]);
    const csr = find(objects, 'ClusterRole', 'tunnel-server-csr-tunnel-system')!;
    const signers = (csr['rules'] as { resources: string[]; resourceNames?: string[]; verbs: string[] }[]).find((r) => r.resources.includes('signers'))!;
    expect(signers.resourceNames).toEqual(['tunnel.tkestack.io/server', 'tunnel.tkestack.io/agent']);
    expect(signers.verbs).toEqual(['approve', 'sign']);
    const ca = find(objects, 'Role', 'tunnel-server-ca-secret')!;
    expect(ca['rules']).toContainEqual({ apiGroups: [''], resources: ['secrets'], resourceNames: ['tunnel-ca'], verbs: ['get', 'update'] });
    for (const cluster of ['cluster-a', 'cluster-b']) {
      expect(find(objects, 'ServiceAccount', `tunnel-bootstrap-${cluster}`)).toBeDefined();
      const binding = find(objects, 'ClusterRoleBinding', `tunnel-bootstrap-tunnel-system-${cluster}`)!;
      expect((binding['subjects'] as { name: string }[])[0]!.name).toBe(`tunnel-bootstrap-${cluster}`);
    }
    const bootstrap = find(objects, 'ClusterRole', 'tunnel-agent-bootstrap-tunnel-system')!;
    expect(bootstrap['rules']).toEqual([{ apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['create', 'get', 'list', 'watch'] }]);
    const args = argsOf(find(objects, 'Deployment', 'tunnel-server')!);
    expect(flagValue(args, 'cert-source')).toBe('csr');
    expect(args.some((a) => a.startsWith('--server-cert='))).toBe(false);
  });
});

describe('chart: hooks', () => {
  it('agent: the provider reports the credential ServiceAccount of the release namespace; RBAC only for it', () => {
    const { objects } = renderObjects([example('one-to-many-agent.yaml'), example('csr-and-pull.yaml')]);
    const args = argsOf(find(objects, 'Deployment', 'tunnel-agent')!);
    expect(flagValue(args, 'hook-provider')).toBe('tkestack');
    expect(flagValue(args, 'credential-service-account')).toBe('tunnel-system/tunnel-credential');
    const role = find(objects, 'Role', 'tunnel-agent-hooks')!;
    expect(role['rules']).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['tunnel-credential'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['tunnel-credential-token'], verbs: ['get', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['kube-root-ca.crt'], verbs: ['get'] },
    ]);
  });

  it('meta: tkestack binds ClusterCredential rights per bootstrap identity; tke a Role on its own Secret', () => {
    const tkestack = renderObjects([example('one-to-many-server.yaml'), example('csr-and-pull.yaml')]).objects;
    expect(find(tkestack, 'ClusterRole', 'tunnel-hook-tkestack-tunnel-system')!['rules']).toEqual([
      { apiGroups: ['platform.tkestack.io'], resources: ['clustercredentials'], verbs: ['get', 'list', 'patch'] },
    ]);
    expect(tkestack.filter((o) => o.kind === 'ClusterRoleBinding' && /hook-tkestack/.test(o.metadata.name ?? ''))).toHaveLength(2);
    const tke = renderObjects([example('one-to-many-server.yaml'), example('csr-and-pull.yaml')], ['--set', 'server.hookRbac=tke']).objects;
    const role = find(tke, 'Role', 'tunnel-hook-tke-cluster-b')!;
    expect(role.metadata.namespace).toBe('tke-anp-tunnel');
    expect((role['rules'] as { resourceNames?: string[] }[])[0]!.resourceNames).toEqual(['cluster-b-credential']);
    expect(tke.some((o) => /hook-tkestack/.test(o.metadata.name ?? ''))).toBe(false);
  });
});

describe('chart: matches the plain manifests', () => {
  const sameArgs = (a: string[], b: string[]) => expect([...a].sort()).toEqual([...b].sort());

  it('one-to-many server and agent run the same command lines', () => {
    const server = renderObjects([], ['--set', 'agent.enabled=true,agent.clusterName=cluster-a,agent.serverHost=tunnel.example.com']).objects;
    sameArgs(argsOf(find(server, 'Deployment', 'tunnel-server')!), argsOf(plainDoc('one-to-many/meta/30-server-deployment.yaml', 'Deployment')));
    sameArgs(argsOf(find(server, 'Deployment', 'tunnel-agent')!), argsOf(plainDoc('one-to-many/managed/30-agent-deployment.yaml', 'Deployment')));
  });

  it('one-to-one server and agent run the same command lines', () => {
    const server = renderObjects([example('one-to-one-server.yaml')]).objects;
    const agent = renderObjects([example('one-to-one-agent.yaml')], ['--set', 'agent.serverHost=tunnel.example.com']).objects;
    sameArgs(argsOf(find(server, 'Deployment', 'tunnel-server')!), argsOf(plainDoc('one-to-one/meta/30-server-deployment.yaml', 'Deployment')));
    sameArgs(argsOf(find(agent, 'Deployment', 'tunnel-agent')!), argsOf(plainDoc('one-to-one/managed/30-agent-deployment.yaml', 'Deployment')));
  });
});

describe('chart: refuses bad values with a clear message', () => {
  const fails = (extra: string[]) => {
    const r = runRender([chartDir, ...extra]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    return r.stderr;
  };

  it('an unknown topology', () => {
    expect(fails(['--set', 'topology=mesh'])).toMatch(/topology must be one-to-many or one-to-one, not "mesh"/);
  });

  it('an agent without a cluster name', () => {
    expect(fails(['--set', 'agent.enabled=true,agent.serverHost=x'])).toMatch(/agent\.clusterName is required/);
  });

  it('an agent without a server address', () => {
    expect(fails(['--set', 'agent.enabled=true,agent.clusterName=a'])).toMatch(/agent\.serverHost is required/);
  });

  it('an unknown hook RBAC', () => {
    expect(fails(['--set', 'server.hookRbac=x', '--set', 'server.bootstrapClusters={a}'])).toMatch(/server\.hookRbac must be empty, tkestack or tke/);
  });

  it('an unknown certificate source or agent authentication', () => {
    expect(fails(['--set', 'certs.source=vault'])).toMatch(/certs\.source must be files or csr/);
    expect(fails(['--set', 'server.agentAuth=none'])).toMatch(/server\.agentAuth must be mtls or token/);
  });
});
