/**
 * The agent's client of the meta cluster from --meta-kubeconfig (until pull
 * mode reaches the meta API through the tunnel): the kubeconfig's cluster
 * (address and CA), and as user the bootstrap ServiceAccount's token file
 * when --bootstrap-token-path is given (re-read as it rotates), else the
 * kubeconfig's own user.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KubeError, loadKubeConfig } from '../kube/index.js';

/** Loads --meta-kubeconfig; throws KubeError ERR_KUBE_CONFIG naming the file. */
export function metaKubeConfigFromFile(file: string, bootstrapTokenPath: string): KubeConfig {
  const kc = loadKubeConfig({ kubeconfigPath: file });
  if (bootstrapTokenPath === '') return kc;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('ERR_KUBE_CONFIG', `kubeconfig ${file}: no current cluster`);
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'bootstrap', authProvider: { name: 'tokenFile', config: { tokenFile: bootstrapTokenPath } } }],
    contexts: [{ name: 'meta', cluster: cluster.name, user: 'bootstrap' }],
    currentContext: 'meta',
  });
  return out;
}
