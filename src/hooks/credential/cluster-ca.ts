/**
 * The managed cluster's CA bundle: the `kube-root-ca.crt` ConfigMap of a
 * namespace (what every pod trusts), else the CA of the agent's own client
 * configuration (in-cluster ca.crt or the kubeconfig's).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { createConfigMapReader, currentClusterCaPem, KubeError } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import { ROOT_CA_CONFIGMAP } from '../defaults.js';
import { HookError } from '../errors.js';

/**
 * Reads the CA bundle for `namespace`. A missing or forbidden ConfigMap
 * falls back to the client configuration's CA; a cluster that cannot be
 * reached rejects.
 */
export async function readClusterCa(kc: KubeConfig, namespace: string, logger: Logger): Promise<string> {
  try {
    const cm = await createConfigMapReader(kc).get(namespace, ROOT_CA_CONFIGMAP);
    const pem = cm?.data['ca.crt'];
    if (pem) return pem;
    logger.debug('no CA in ConfigMap; using the client configuration\'s CA', { configMap: `${namespace}/${ROOT_CA_CONFIGMAP}` });
  } catch (err) {
    if (!(err instanceof KubeError) || err.status !== 403) throw err;
    logger.warn('cannot read the cluster CA ConfigMap; using the client configuration\'s CA', { error: err.message });
  }
  return kubeconfigCa(kc, `ConfigMap ${namespace}/${ROOT_CA_CONFIGMAP} has no ca.crt`);
}

/** The client configuration's CA, or ERR_HOOK_CREDENTIAL saying why none was found (`before` + that). */
export function kubeconfigCa(kc: KubeConfig, before: string): string {
  const pem = currentClusterCaPem(kc);
  if (pem) return pem;
  throw new HookError('ERR_HOOK_CREDENTIAL', `no CA bundle for the managed cluster: ${before}, and the client configuration has no CA`);
}
