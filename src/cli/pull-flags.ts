/**
 * Flags of pull mode (ours, not upstream's): the server's named targets and
 * allow-list, the agent's local listeners and meta-cluster KubeConfig. How
 * each value lands in the config is in pull-options.ts.
 */
import type { FlagSpec } from './flag-spec.js';

export const SERVER_PULL_FLAGS: readonly FlagSpec[] = [
  {
    name: 'pull-target',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: 'A service agents may reach in pull mode: NAME=HOST:PORT (repeatable). In a pod, "kubernetes" is built in as the in-cluster apiserver (KUBERNETES_SERVICE_HOST/PORT); kubernetes=HOST:PORT overrides it.',
  },
  {
    name: 'pull-allow',
    kind: 'string',
    def: '*=kubernetes',
    group: 'pull',
    doc: 'Who may pull which targets: IDENTITY=NAME[,NAME...] (repeatable; rules add up). IDENTITY: a cluster name (certificate CN tunnel-agent:<cluster>), a certificate CN or ServiceAccount user, an agent id (token-authenticated agents), or * for any authenticated agent. Given at all, it replaces the default.',
  },
  {
    name: 'pull-max-connections-per-agent',
    kind: 'int',
    def: '256',
    group: 'pull',
    doc: 'Pull connections one agent may have at once (dialing or open); more are refused with ERR_PULL_TOO_MANY.',
  },
  {
    name: 'pull-dial-timeout',
    kind: 'duration',
    def: '10s',
    group: 'pull',
    doc: 'How long the server tries to connect to a pull target.',
  },
];

export const AGENT_PULL_FLAGS: readonly FlagSpec[] = [
  {
    name: 'pull-listen',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: 'A port forward: NAME=ADDR:PORT (repeatable). TCP connections to ADDR:PORT (ADDR empty: every interface) become pull connections to the server-side target NAME.',
  },
  {
    name: 'pull-proxy',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: 'An HTTP CONNECT proxy on ADDR:PORT: "CONNECT NAME:PORT" reaches the server-side target NAME (the port is not used).',
  },
  {
    name: 'pull-kube-target',
    kind: 'string',
    def: 'kubernetes',
    group: 'pull',
    doc: "Pull target name of the meta cluster's kube-apiserver, for the agent's own meta-cluster client (https://<name>).",
  },
  {
    name: 'pull-kube-ca-cert',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: "CA bundle of the meta cluster's kube-apiserver, for the agent's own meta-cluster client; empty means the system roots.",
  },
  {
    name: 'pull-kube-token-path',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: "File holding the bearer token of the agent's own meta-cluster client (re-read as it rotates).",
  },
  {
    name: 'pull-kube-tls-server-name',
    kind: 'string',
    def: '',
    group: 'pull',
    doc: "Name the meta apiserver's certificate is checked against, when it is not the target name.",
  },
];
