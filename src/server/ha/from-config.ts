/**
 * The HA part a ServerConfig asks for: Leases through --kubeconfig (else the
 * in-cluster configuration) with --enable-lease-controller, else the static
 * --server-count. Throws KubeError ERR_KUBE_CONFIG when Leases are asked for
 * and no Kubernetes configuration is found.
 */
import type { Registry } from 'prom-client';
import { createLeaseStore, kubeConfigFor } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import type { ServerConfig } from '../config.js';
import { LeaseMetrics } from './lease-metrics.js';
import { LeaseServerHA } from './lease-server-ha.js';
import { staticServerHA } from './static-ha.js';
import type { ServerHA } from './types.js';

/** Builds the ServerHA of `config`; the Lease metrics go on `registry`. */
export function serverHAFromConfig(
  config: Pick<ServerConfig, 'serverID' | 'serverCount' | 'enableLeaseController' | 'leaseNamespace' | 'leaseLabels' | 'kubeconfig'>,
  deps: { logger: Logger; registry: Registry; env?: Record<string, string | undefined> },
): ServerHA {
  if (!config.enableLeaseController) return staticServerHA(config.serverCount);
  const kc = kubeConfigFor('--enable-lease-controller', { kubeconfigPath: config.kubeconfig, ...(deps.env ? { env: deps.env } : {}) });
  return new LeaseServerHA({
    serverID: config.serverID,
    store: createLeaseStore(kc),
    namespace: config.leaseNamespace,
    labels: config.leaseLabels,
    fallbackCount: config.serverCount,
    logger: deps.logger.child({ component: 'lease-controller' }),
    metrics: new LeaseMetrics(deps.registry),
  });
}
