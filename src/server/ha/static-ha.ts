/** The HA part without Leases: the --server-count flag, always. */
import type { ServerHA } from './types.js';

/** A fixed `servercount`; nothing to start or withdraw. */
export function staticServerHA(count: number): ServerHA {
  return {
    serverCount: () => count,
    start: () => undefined,
    stop: () => Promise.resolve(),
    describe: () => ({ source: 'flag', serverCount: count }),
  };
}
