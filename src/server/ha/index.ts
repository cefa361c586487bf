/** Server replicas: Leases, the server count sent to agents. */
export { LEASE_DEFAULTS, labelsToSelector, leaseNameFor, parseLabels } from './defaults.js';
export { serverHAFromConfig } from './from-config.js';
export { LeaseCollector, type LeaseCollectorOptions } from './lease-collector.js';
export { LeaseHolder, type LeaseHolderOptions } from './lease-holder.js';
export { LeaseMetrics } from './lease-metrics.js';
export { LeaseServerHA, type LeaseServerHAOptions } from './lease-server-ha.js';
export { staticServerHA } from './static-ha.js';
export type { ServerHA } from './types.js';
export { systemWallClock, type WallClock } from './wall-clock.js';
