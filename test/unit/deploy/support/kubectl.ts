/**
 * `kubectl create --dry-run=client --validate=false -o name` without a
 * cluster. A client dry run still maps each kind to its resource through API
 * discovery, so this serves a discovery-only API on 127.0.0.1 (the built-in
 * kinds the deploy files use; any other kind is "no matches for kind", as on a
 * real cluster without that CRD) and points a throwaway kubeconfig at it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

type Resource = [plural: string, kind: string, namespaced: boolean];

/** Built-in kinds by group/version, as a real API server lists them. */
const RESOURCES: Record<string, Resource[]> = {
  v1: [
    ['namespaces', 'Namespace', false],
    ['serviceaccounts', 'ServiceAccount', true],
    ['services', 'Service', true],
    ['secrets', 'Secret', true],
    ['configmaps', 'ConfigMap', true],
    ['pods', 'Pod', true],
  ],
  'apps/v1': [
    ['deployments', 'Deployment', true],
    ['daemonsets', 'DaemonSet', true],
    ['statefulsets', 'StatefulSet', true],
  ],
  'rbac.authorization.k8s.io/v1': [
    ['roles', 'Role', true],
    ['rolebindings', 'RoleBinding', true],
    ['clusterroles', 'ClusterRole', false],
    ['clusterrolebindings', 'ClusterRoleBinding', false],
  ],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
  'coordination.k8s.io/v1': [['leases', 'Lease', true]],
  'certificates.k8s.io/v1': [['certificatesigningrequests', 'CertificateSigningRequest', false]],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy', true]],
};

function resourceList(gv: string): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: RESOURCES[gv]!.map(([name, kind, namespaced]) => ({
      name,
      singularName: kind.toLowerCase(),
      namespaced,
      kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

function discovery(pathname: string): object | undefined {
  if (pathname === '/version') return { major: '1', minor: '32', gitVersion: 'v1.32.0' };
  if (pathname === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  if (pathname === '/api/v1') return resourceList('v1');
  if (pathname === '/apis') {
    const groups = Object.keys(RESOURCES)
      .filter((gv) => gv.includes('/'))
      .map((gv) => {
        const [name, version] = gv.split('/');
        const v = { groupVersion: gv, version };
        return { name, versions: [v], preferredVersion: v };
      });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const gv = pathname.replace(/^\/apis\//, '');
  return pathname.startsWith('/apis/') && RESOURCES[gv] ? resourceList(gv) : undefined;
}

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  /** kubectl create --dry-run=client --validate=false -o name, on files or on a YAML stream given as stdin. */
  dryRun(input: { files: string[] } | { stdin: string }): Promise<KubectlResult>;
  close(): Promise<void>;
}

/** The kubectl binary on PATH, or undefined. */
export function findKubectl(): string | undefined {
  const r = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  return r.status === 0 ? 'kubectl' : undefined;
}

export async function startKubectl(): Promise<Kubectl> {
  const server = http.createServer((req, res) => {
    const body = discovery(new URL(req.url ?? '/', 'http://localhost').pathname);
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const home = mkdtempSync(path.join(os.tmpdir(), 'deploy-kubectl-'));
  const kubeconfig = path.join(home, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: discovery-only, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'users: [{name: nobody, user: {}}]',
      'contexts: [{name: discovery-only, context: {cluster: discovery-only, user: nobody}}]',
      'current-context: discovery-only',
      '',
    ].join('\n'),
  );
  // Only what kubectl needs: no proxies, the throwaway kubeconfig, a private cache directory.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig };

  const dryRun = (input: { files: string[] } | { stdin: string }): Promise<KubectlResult> =>
    new Promise((resolve, reject) => {
      const args = ['create', '--dry-run=client', '--validate=false', '-o', 'name'];
      if ('files' in input) for (const f of input.files) args.push('-f', f);
      else args.push('-f', '-');
      const child = spawn('kubectl', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end('stdin' in input ? input.stdin : '');
    });

  return {
    dryRun,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(home, { recursive: true, force: true });
    },
  };
}
