/**
 * The `pull` check of the agent's /readyz. It never fails readiness (push
 * works without pull); the verbose form says whether pull is available:
 *
 *     [+]pull ok
 *     [+]pull ok (unavailable: the connected tunnel server does not offer pull mode)
 */
import type { NamedCheck } from '../../observability/http-endpoint.js';
import type { PullServers } from './server-pool.js';

/** The readiness check of pull mode. */
export function pullReadinessCheck(servers: PullServers): NamedCheck {
  return {
    name: 'pull',
    check: () => null,
    detail: () => {
      const st = servers.status();
      if (st.available > 0) return null;
      if (st.servers === 0) return 'unavailable: no tunnel server connected';
      if (st.unsupported === st.servers) return 'unavailable: the connected tunnel servers do not offer pull mode';
      const problem = servers.lastProblem();
      return problem ? `unavailable: ${problem}` : 'unavailable: waiting for the tunnel servers to list pull targets';
    },
  };
}
