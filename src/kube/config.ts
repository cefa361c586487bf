/**
 * Where the Kubernetes client comes from: a kubeconfig file when a path is
 * given (upstream's --kubeconfig), otherwise the in-cluster ServiceAccount
 * (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA). Anything
 * else is a KubeError ERR_KUBE_CONFIG that says what is missing.
 */
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeError } from './errors.js';

/** Where a pod finds its ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Options of loadKubeConfig. */
export interface LoadKubeConfigOptions {
  /** A kubeconfig file; when unset or empty (a flag left at its default), the in-cluster configuration is used. */
  kubeconfigPath?: string;
  /** Environment holding KUBERNETES_SERVICE_HOST and _PORT; default process.env. */
  env?: Record<string, string | undefined>;
  /** The mounted ServiceAccount folder (token, ca.crt); default /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir?: string;
}

/** Loads the client configuration; throws KubeError ERR_KUBE_CONFIG when neither source works. */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  return opts.kubeconfigPath ? fromFile(opts.kubeconfigPath) : inCluster(opts);
}

/**
 * loadKubeConfig for a feature a flag turned on: the error names the flag
 * ("--enable-lease-controller: kubeconfig /x: no such file").
 */
export function kubeConfigFor(flag: string, opts: LoadKubeConfigOptions): KubeConfig {
  try {
    return loadKubeConfig(opts);
  } catch (e) {
    throw new KubeError('ERR_KUBE_CONFIG', `${flag}: ${(e as Error).message}`, { cause: e });
  }
}

function fromFile(file: string): KubeConfig {
  if (!existsSync(file)) throw new KubeError('ERR_KUBE_CONFIG', `kubeconfig ${file}: no such file`);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new KubeError('ERR_KUBE_CONFIG', `kubeconfig ${file}: cannot be read (${(err as Error).message})`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeError('ERR_KUBE_CONFIG', `kubeconfig ${file}: the current context "${kc.getCurrentContext()}" names no cluster`);
  }
  return kc;
}

function inCluster(opts: LoadKubeConfigOptions): KubeConfig {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = path.join(dir, 'token');
  const caFile = path.join(dir, 'ca.crt');
  const missing: string[] = [];
  if (!host || !port) missing.push('KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
  if (!existsSync(tokenFile)) missing.push(`${tokenFile} does not exist`);
  if (!existsSync(caFile)) missing.push(`${caFile} does not exist`);
  if (missing.length > 0) {
    throw new KubeError(
      'ERR_KUBE_CONFIG',
      `no Kubernetes configuration: pass --kubeconfig, or run in a pod with a ServiceAccount (${missing.join('; ')})`,
    );
  }
  const server = `https://${isIPv6(host!) ? `[${host}]` : host}:${port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile, skipTLSVerify: false }],
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster' }],
    currentContext: 'in-cluster',
  });
  return kc;
}
