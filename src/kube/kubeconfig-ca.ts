/** The CA bundle a client configuration trusts for its current cluster (inline data or a file). */
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError } from './errors.js';

/**
 * The PEM CA bundle of `kc`'s current cluster, or undefined when it has
 * none (system roots). An unreadable CA file is KubeError ERR_KUBE_CONFIG.
 */
export function currentClusterCaPem(kc: KubeConfig): string | undefined {
  const cluster = kc.getCurrentCluster();
  if (!cluster) return undefined;
  if (cluster.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
  if (cluster.caFile) {
    try {
      return readFileSync(cluster.caFile, 'utf8');
    } catch (err) {
      throw new KubeError('ERR_KUBE_CONFIG', `CA file ${cluster.caFile} of cluster "${cluster.name}": ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}
