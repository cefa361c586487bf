/**
 * Every upstream proxy-agent flag, with upstream's name, default and value
 * format. How each value lands in AgentConfig is in agent-options.ts; flags
 * whose feature has not landed are listed in not-yet.ts.
 */
import { AGENT_CERT_FLAGS } from './cert-flags.js';
import type { FlagSpec } from './flag-spec.js';
import { AGENT_HOOK_FLAGS } from './hook-flags.js';
import { AGENT_PULL_FLAGS } from './pull-flags.js';

export const AGENT_FLAGS: readonly FlagSpec[] = [
  // Connection to the server
  {
    name: 'proxy-server-host',
    kind: 'string',
    def: '127.0.0.1',
    group: 'server-connection',
    doc: "Host name or address of the tunnel server's agent port (usually a load balancer). Also the TLS server name.",
  },
  {
    name: 'proxy-server-port',
    kind: 'int',
    def: '8091',
    group: 'server-connection',
    doc: "The tunnel server's agent port.",
  },
  {
    name: 'agent-id',
    kind: 'string',
    def: '',
    group: 'server-connection',
    doc: 'Unique id of this agent. Empty: env PROXY_AGENT_ID, else a random UUID.',
  },
  {
    name: 'agent-identifiers',
    kind: 'string',
    def: '',
    group: 'server-connection',
    doc: 'What the server may route to this agent, URL-encoded: e.g. host=cluster-a&ipv4=10.0.0.1&cidr=10.0.0.0/8&default-route=true. Keys: ipv4, ipv6, host, cidr, default-route.',
  },
  {
    name: 'alpn-proto',
    kind: 'list',
    def: '',
    group: 'server-connection',
    doc: 'Extra ALPN protocol names offered to the server (repeatable or comma-separated), e.g. to tell the tunnel apart from the apiserver behind one address.',
  },
  {
    name: 'keepalive-time',
    kind: 'duration',
    def: '1h0m0s',
    group: 'server-connection',
    doc: 'Interval of keepalive pings on idle server connections. Under 30s, servers enforcing upstream\'s policy close the connection.',
  },
  {
    name: 'xfr-channel-size',
    kind: 'int',
    def: '150',
    group: 'server-connection',
    doc: 'Packets queued per connection before backpressure applies.',
  },
  {
    name: 'dial-alias',
    kind: 'list',
    def: '',
    group: 'routing',
    doc: 'Not upstream: name=host pairs (repeatable or comma-separated). A dial to name:port goes to host:port, e.g. cluster-a=kubernetes.default.svc so that the meta cluster reaches this apiserver as cluster-a:443.',
  },
  // TLS and authentication
  {
    name: 'ca-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: "CA bundle that signs the server's agent-port certificate; empty means the system roots.",
  },
  {
    name: 'agent-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM client certificate presented to the server (needs --agent-key).',
  },
  {
    name: 'agent-key',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM private key of --agent-cert.',
  },
  {
    name: 'service-account-token-path',
    kind: 'string',
    def: '',
    group: 'auth',
    doc: 'File holding a ServiceAccount token, re-read on every connect and sent as a bearer token (server token authentication).',
  },
  // HA
  {
    name: 'sync-interval',
    kind: 'duration',
    def: '1s',
    group: 'ha',
    doc: 'How often the agent checks that it is connected to every server replica.',
  },
  {
    name: 'sync-interval-cap',
    kind: 'duration',
    def: '10s',
    group: 'ha',
    doc: 'Longest sync interval after failures (the interval grows 1.5x per failure up to this). Must not be below --sync-interval.',
  },
  {
    name: 'probe-interval',
    kind: 'duration',
    def: '1s',
    group: 'ha',
    doc: 'How often the agent drops server connections that are no longer ready.',
  },
  {
    name: 'sync-forever',
    kind: 'bool',
    def: 'false',
    group: 'ha',
    doc: 'Keep syncing after every replica is connected, to notice a changed server count.',
  },
  {
    name: 'count-server-leases',
    kind: 'bool',
    def: 'false',
    group: 'ha',
    doc: 'Count server replicas from their Leases instead of the servercount header.',
  },
  {
    name: 'lease-namespace',
    kind: 'string',
    def: 'kube-system',
    group: 'ha',
    doc: 'Namespace of the server Leases.',
  },
  {
    name: 'lease-label-selector',
    kind: 'string',
    def: 'k8s-app=konnectivity-server',
    group: 'ha',
    doc: 'Label selector of the server Leases.',
  },
  {
    name: 'lease-label',
    kind: 'string',
    def: 'k8s-app=konnectivity-server',
    group: 'ha',
    doc: 'Older name of --lease-label-selector.',
  },
  {
    name: 'server-count-source',
    kind: 'string',
    def: 'default',
    group: 'ha',
    doc: "Where the server count comes from: default (leases when counted, else the header) or max (the larger of both).",
  },
  {
    name: 'kubeconfig',
    kind: 'string',
    def: '',
    group: 'ha',
    doc: 'Kubeconfig of the managed cluster (server Leases, the hooks\' managedKubeConfig); empty means the in-cluster configuration.',
  },
  {
    name: 'kube-api-content-type',
    kind: 'string',
    def: 'application/vnd.kubernetes.protobuf',
    group: 'ha',
    doc: 'Content type of requests to the Kubernetes API.',
  },
  // Health and admin
  {
    name: 'health-server-host',
    kind: 'string',
    def: '',
    group: 'health-admin',
    doc: 'Address the health endpoint binds to; empty means every interface.',
  },
  {
    name: 'health-server-port',
    kind: 'int',
    def: '8093',
    group: 'health-admin',
    doc: 'Port of /healthz, /readyz and /metrics.',
  },
  {
    name: 'admin-bind-address',
    kind: 'string',
    def: '127.0.0.1',
    group: 'health-admin',
    doc: 'Address the admin endpoint binds to; empty means every interface.',
  },
  {
    name: 'admin-server-port',
    kind: 'int',
    def: '8094',
    group: 'health-admin',
    doc: 'Port of the admin endpoint.',
  },
  {
    name: 'enable-profiling',
    kind: 'bool',
    def: 'false',
    group: 'health-admin',
    doc: 'Serve profiling data under /debug/pprof on the admin port.',
  },
  {
    name: 'enable-contention-profiling',
    kind: 'bool',
    def: 'false',
    group: 'health-admin',
    doc: 'Also profile lock contention; needs --enable-profiling.',
  },
  // Certificates and hooks (ours)
  ...AGENT_CERT_FLAGS,
  ...AGENT_HOOK_FLAGS,
  // Compatibility only
  {
    name: 'warn-on-channel-limit',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'Deprecated upstream; full queues are always reported.',
    ignored: 'deprecated upstream; full queues are always reported',
  },
  {
    name: 'enable-push-service-account-token',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'Removed upstream; the agent never hands its token to clients.',
    ignored: 'removed upstream; the agent never hands its token to clients',
  },
  // Pull mode (ours)
  ...AGENT_PULL_FLAGS,
];
