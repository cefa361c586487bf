/**
 * Upstream flags this build accepts (their values are still checked) but does
 * not act on yet. Each one given on the command line produces the warning
 * `flag --X has no effect yet`. When a feature lands: wire its flag in
 * server-options.ts / agent-options.ts and remove its name here; a unit test
 * checks that the two agree.
 */

export const NOT_YET_IMPLEMENTED: Readonly<Record<'server' | 'agent', readonly string[]>> = {
  server: [
    'enable-profiling',
    'enable-contention-profiling',
    'kubeconfig-qps',
    'kubeconfig-burst',
    'kube-api-content-type',
    'frontend-write-channel-size',
  ],
  agent: [
    'enable-profiling',
    'enable-contention-profiling',
    'kube-api-content-type',
  ],
};
