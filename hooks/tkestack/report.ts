/**
 * Writes the credential into the cluster's ClusterCredential in the meta
 * cluster: exactly one must have `clusterName=<cluster>`; none or several
 * is an error that names them, and nothing is written.
 */
import type { ManagedCredential } from '../../src/hooks/credential/index.js';
import { HookError } from '../../src/hooks/index.js';
import type { ClusterCredentialClient } from '../../src/kube/index.js';
import type { Logger } from '../../src/observability/logger.js';

/** Updates token and CA of the cluster's ClusterCredential; resolves with what it touched, for logs. */
export async function reportToClusterCredential(
  client: ClusterCredentialClient,
  clusterName: string,
  cred: ManagedCredential,
  logger: Logger,
): Promise<string> {
  const found = await client.findByClusterName(clusterName);
  if (!found.byFieldSelector) {
    logger.info('the meta cluster refused fieldSelector clusterName; listed every ClusterCredential and filtered instead');
  }
  if (found.items.length === 0) {
    throw new HookError('ERR_HOOK_CREDENTIAL', `no ClusterCredential with clusterName=${clusterName} in the meta cluster`);
  }
  if (found.items.length > 1) {
    const names = found.items.map((i) => i.name).sort().join(', ');
    throw new HookError(
      'ERR_HOOK_CREDENTIAL',
      `${found.items.length} ClusterCredentials have clusterName=${clusterName} (${names}); refusing to pick one`,
    );
  }
  const cc = found.items[0]!;
  if (cc.token === cred.token && cc.caPem === cred.caPem) return `ClusterCredential ${cc.name} (unchanged)`;
  await client.setToken(cc.name, clusterName, { token: cred.token, caPem: cred.caPem });
  return `ClusterCredential ${cc.name}`;
}
