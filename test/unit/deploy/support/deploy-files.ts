/** The YAML files under deploy/, what kind each is, and helpers to look inside Kubernetes objects. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../../support/paths.js';

export const deployDir = path.join(repoRoot, 'deploy');
export const chartDir = path.join(deployDir, 'helm', 'tke-anp-tunnel');

/** A Kubernetes object as parsed from YAML (only the fields the tests read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Every .yaml/.yml file under dir, sorted, as absolute paths. */
export function yamlFiles(dir: string = deployDir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...yamlFiles(full));
    else if (/\.ya?ml$/.test(name)) out.push(full);
  }
  return out;
}

/** Path relative to the repository root, for test names and messages. */
export const rel = (file: string): string => path.relative(repoRoot, file);

/** Go templates of the chart: not YAML until rendered. */
export const isHelmTemplate = (file: string): boolean => rel(file).startsWith('deploy/helm/') && rel(file).includes('/templates/');
/** Chart.yaml, values files and example values: YAML, but not Kubernetes objects. */
export const isHelmValues = (file: string): boolean => rel(file).startsWith('deploy/helm/') && !isHelmTemplate(file);

/** Kubernetes API kinds that are kube-apiserver configuration files, not API objects. */
export const CONFIG_FILE_KINDS = new Set(['EgressSelectorConfiguration']);

/** Parses a YAML stream; returns the documents (null ones dropped) and any parse errors. */
export function parseStream(text: string): { docs: unknown[]; errors: string[] } {
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const errors = list.flatMap((d) => d.errors.map((e) => e.message));
  const docs = list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
  return { docs, errors };
}

export function loadFile(file: string): { docs: unknown[]; errors: string[] } {
  return parseStream(readFileSync(file, 'utf8'));
}

export function isK8sObject(v: unknown): v is K8sObject {
  return typeof v === 'object' && v !== null && typeof (v as K8sObject).kind === 'string' && typeof (v as K8sObject).apiVersion === 'string';
}

/** The plain manifests that are Kubernetes API objects (not chart files, not config files). */
export function plainManifestFiles(): string[] {
  return yamlFiles().filter((f) => !isHelmTemplate(f) && !isHelmValues(f) && !isConfigFile(f));
}

/** A file whose documents are all kube-apiserver configuration kinds. */
export function isConfigFile(file: string): boolean {
  const { docs } = loadFile(file);
  return docs.length > 0 && docs.every((d) => isK8sObject(d) && CONFIG_FILE_KINDS.has(d.kind));
}

/** Every Kubernetes object of the plain manifests, with the file it came from. */
export function plainObjects(): { file: string; obj: K8sObject }[] {
  return plainManifestFiles().flatMap((file) => loadFile(file).docs.filter(isK8sObject).map((obj) => ({ file, obj })));
}

// ---- inside objects --------------------------------------------------------

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: SecurityContext;
  livenessProbe?: { httpGet?: { path: string; port: number | string } };
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext;
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; emptyDir?: unknown; hostPath?: { path: string }; secret?: { secretName: string } }[];
  affinity?: { podAntiAffinity?: unknown };
  serviceAccountName?: string;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/** The pod spec of a workload or Pod, else undefined. */
export function podSpecOf(obj: K8sObject): PodSpec | undefined {
  const spec = obj['spec'] as { template?: { spec: PodSpec } } & PodSpec;
  if (obj.kind === 'Pod') return spec;
  if (WORKLOADS.has(obj.kind)) return spec.template?.spec;
  if (obj.kind === 'CronJob') return (spec as unknown as { jobTemplate: { spec: { template: { spec: PodSpec } } } }).jobTemplate.spec.template.spec;
  return undefined;
}

/** Containers and init containers of a pod spec. */
export const allContainers = (pod: PodSpec): Container[] => [...pod.containers, ...(pod.initContainers ?? [])];

/** The value of `--name=value` in args, or undefined. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

export interface RbacRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export const rulesOf = (obj: K8sObject): RbacRule[] => (obj['rules'] as RbacRule[] | undefined) ?? [];

export interface ServiceSpec {
  type?: string;
  publishNotReadyAddresses?: boolean;
  selector?: Record<string, string>;
  ports: { name?: string; port: number; targetPort?: number | string; nodePort?: number }[];
}

export const serviceSpec = (obj: K8sObject): ServiceSpec => obj['spec'] as ServiceSpec;
