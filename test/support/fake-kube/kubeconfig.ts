/** Kubeconfig files and KubeConfig objects pointing at a fake API with a bearer token. */
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

/** The YAML of a kubeconfig with one cluster, one token user and one context. */
export function kubeconfigYaml(server: string, caPem: string, userName: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake-kube', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: userName, user: { token } }],
    contexts: [{ name: 'fake-kube', context: { cluster: 'fake-kube', user: userName, namespace } }],
    'current-context': 'fake-kube',
  });
}

/** A loaded KubeConfig for that cluster and token. */
export function loadedKubeConfig(server: string, caPem: string, userName: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(server, caPem, userName, token));
  return kc;
}
