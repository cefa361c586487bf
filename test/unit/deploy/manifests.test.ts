/**
 * The plain manifests in deploy/: every YAML file parses, every Kubernetes
 * object passes kubectl's client-side dry run, the egress selector examples
 * are valid EgressSelectorConfigurations that match the static pod, and each
 * container's command line is accepted by the real CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CliSandbox } from './support/cli-check.js';
import {
  allContainers,
  deployDir,
  flagValue,
  isConfigFile,
  isHelmTemplate,
  isK8sObject,
  loadFile,
  plainManifestFiles,
  plainObjects,
  podSpecOf,
  rel,
  yamlFiles,
  type K8sObject,
} from './support/deploy-files.js';
import { findKubectl, startKubectl, type Kubectl } from './support/kubectl.js';
import { schemaProblems } from './support/schema.js';

const parseable = yamlFiles().filter((f) => !isHelmTemplate(f));
const manifests = plainManifestFiles();

describe('YAML files in deploy/', () => {
  it('covers both topologies, the egress selector examples and the chart', () => {
    const names = parseable.map(rel);
    for (const dir of ['deploy/one-to-many/meta/', 'deploy/one-to-many/managed/', 'deploy/one-to-one/meta/', 'deploy/one-to-one/managed/', 'deploy/egress-selector/', 'deploy/helm/']) {
      expect(names.some((n) => n.startsWith(dir))).toBe(true);
    }
  });

  it.each(parseable.map((f) => [rel(f), f]))('%s parses as YAML without errors', (_name, file) => {
    const { docs, errors } = loadFile(file);
    expect(errors).toEqual([]);
    expect(docs.length).toBeGreaterThan(0);
  });

  it.each(manifests.map((f) => [rel(f), f]))('%s holds only Kubernetes objects with a name', (_name, file) => {
    for (const doc of loadFile(file).docs) {
      expect(isK8sObject(doc)).toBe(true);
      expect((doc as K8sObject).metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });
});

describe('kubectl create --dry-run=client', () => {
  let kubectl: Kubectl;
  beforeAll(async () => {
    if (!findKubectl()) throw new Error('kubectl is not on PATH: these tests need the kubectl client (e.g. apt-get install kubernetes-client)');
    kubectl = await startKubectl();
  });
  afterAll(() => kubectl?.close());

  it.each(manifests.map((f) => [rel(f), f]))('accepts %s', async (_name, file) => {
    const r = await kubectl.dryRun({ files: [file] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const objects = loadFile(file).docs.filter(isK8sObject);
    const printed = r.stdout.trim().split('\n');
    expect(printed).toHaveLength(objects.length);
    printed.forEach((line, i) => expect(line).toMatch(new RegExp(`^${objects[i]!.kind.toLowerCase()}(\\.[a-z0-9.]+)?/${objects[i]!.metadata.name}$`)));
  });

  it('refuses a kind the API does not have (the check has teeth)', async () => {
    const r = await kubectl.dryRun({ stdin: 'apiVersion: apps/v1\nkind: Deploymnt\nmetadata:\n  name: x\n' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no matches for kind "Deploymnt"/);
  });
});

describe('strict field check against the Kubernetes API types', () => {
  it.each(manifests.map((f) => [rel(f), f]))('%s: no unknown fields, every value of its type', (_name, file) => {
    for (const doc of loadFile(file).docs.filter(isK8sObject)) {
      expect({ object: `${doc.kind}/${doc.metadata.name}`, problems: schemaProblems(doc) }).toEqual({ object: `${doc.kind}/${doc.metadata.name}`, problems: [] });
    }
  });

  it('finds a misspelled field, a number where a string belongs and a map where a list belongs (the check has teeth)', () => {
    const problems = schemaProblems({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x', labels: { tier: 1 } },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: {
          metadata: { labels: { app: 'x' } },
          spec: {
            containers: [
              {
                name: 'c',
                image: 'i',
                args: { a: 'b' },
                securityContext: { readOnlyRootFileSystem: true },
                resources: { limits: { cpu: 1, memory: '64Mi' } },
                ports: [{ containerPort: '8080' }],
              },
            ],
          },
        },
      },
    });
    expect(problems).toEqual([
      'metadata.labels.tier: expected a string, found number 1',
      'spec.template.spec.containers[0].args: expected a list, found a map',
      expect.stringMatching(/^spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem: unknown field \(V1SecurityContext has .*readOnlyRootFilesystem/),
      'spec.template.spec.containers[0].ports[0].containerPort: expected a number, found string "8080"',
    ]);
    expect(schemaProblems({ apiVersion: 'apps/v1', kind: 'Deploymnt' })).toEqual(['no API type for apps/v1 Deploymnt']);
  });
});

describe('container command lines', () => {
  const sandbox = new CliSandbox();
  afterAll(() => sandbox.remove());
  const containers = plainObjects().flatMap(({ file, obj }) => {
    const pod = podSpecOf(obj);
    return pod ? allContainers(pod).map((c) => [`${rel(file)} ${obj.kind}/${obj.metadata.name} ${c.name}`, c] as const) : [];
  });

  it('finds the server and agent containers', () => {
    expect(containers.length).toBeGreaterThanOrEqual(5);
  });

  it.each(containers)('%s: accepted by the CLI, no future flags active', (_name, container) => {
    const r = sandbox.check(container);
    expect(r.error).toBeUndefined();
    expect(r.unknown).toEqual([]);
    expect(r.setAside).toEqual([]);
  });
});

describe('egress selector examples', () => {
  const dir = path.join(deployDir, 'egress-selector');
  const configs = yamlFiles(dir).filter(isConfigFile);
  type Selection = {
    name: string;
    connection: {
      proxyProtocol: string;
      transport?: { uds?: { udsName: string }; tcp?: { url: string; tlsConfig?: Record<string, string> } };
    };
  };
  const selections = (file: string): Selection[] =>
    (loadFile(file).docs[0] as { egressSelections: Selection[] }).egressSelections;

  it('has a GRPC-over-UDS and an HTTPConnect-over-TCP example', () => {
    const cluster = configs.map((f) => selections(f).find((s) => s.name === 'cluster')!.connection.proxyProtocol).sort();
    expect(cluster).toEqual(['GRPC', 'HTTPConnect']);
  });

  it.each(configs.map((f) => [rel(f), f]))('%s is a valid EgressSelectorConfiguration', (_name, file) => {
    const docs = loadFile(file).docs as K8sObject[];
    expect(docs).toHaveLength(1);
    expect(docs[0]!.apiVersion).toBe('apiserver.k8s.io/v1beta1');
    const sel = selections(file);
    const names = sel.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of sel) {
      expect(['cluster', 'controlplane', 'etcd']).toContain(s.name);
      const { proxyProtocol, transport } = s.connection;
      expect(['GRPC', 'HTTPConnect', 'Direct']).toContain(proxyProtocol);
      if (proxyProtocol === 'Direct') expect(transport).toBeUndefined();
      // kube-apiserver accepts GRPC only over a Unix socket.
      if (proxyProtocol === 'GRPC') expect(transport?.tcp).toBeUndefined();
      if (proxyProtocol !== 'Direct') expect(Boolean(transport?.uds) !== Boolean(transport?.tcp)).toBe(true);
      if (transport?.uds) expect(transport.uds.udsName).toMatch(/^\/.+\.socket$/);
      if (transport?.tcp) {
        expect(transport.tcp.url).toMatch(/^https:\/\/[^/]+:8090$/);
        expect(Object.keys(transport.tcp.tlsConfig ?? {}).sort()).toEqual(['caBundle', 'clientCert', 'clientKey']);
      }
    }
  });

  it('the static pod serves the socket the GRPC example names, from a shared host directory, TCP frontend off', () => {
    const grpc = configs.map(selections).flat().find((s) => s.connection.proxyProtocol === 'GRPC')!;
    const socket = grpc.connection.transport!.uds!.udsName;
    expect(socket).toBe('/etc/kubernetes/konnectivity-server/konnectivity-server.socket');
    const pod = plainObjects().find(({ obj }) => obj.kind === 'Pod' && obj.metadata.name === 'konnectivity-server')!.obj;
    const spec = podSpecOf(pod)!;
    const args = spec.containers[0]!.args!;
    expect(flagValue(args, 'uds-name')).toBe(socket);
    expect(flagValue(args, 'server-port')).toBe('0');
    const mount = spec.containers[0]!.volumeMounts!.find((m) => m.mountPath === path.dirname(socket))!;
    const volume = spec.volumes!.find((v) => v.name === mount.name)!;
    expect(volume.hostPath?.path).toBe(path.dirname(socket));
  });

  it('the HTTPConnect example dials the frontend Service of the one-to-many manifests', () => {
    const tcp = configs.map(selections).flat().find((s) => s.connection.proxyProtocol === 'HTTPConnect')!;
    const url = new URL(tcp.connection.transport!.tcp!.url);
    const [svc, ns] = url.hostname.split('.');
    const services = loadFile(path.join(deployDir, 'one-to-many', 'meta', '40-server-services.yaml')).docs as K8sObject[];
    const frontend = services.find((s) => s.metadata.name === svc && s.metadata.namespace === ns);
    expect(frontend).toBeDefined();
    expect((frontend!['spec'] as { type: string }).type).toBe('ClusterIP');
  });

  it('the README tells kube-apiserver which flag and mounts to use', () => {
    const readme = readFileSync(path.join(deployDir, 'README.md'), 'utf8');
    expect(readme).toContain('--egress-selector-config-file');
    expect(readme).toContain('/etc/kubernetes/konnectivity-server');
  });
});
