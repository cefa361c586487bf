/**
 * Every upstream proxy-server flag, with upstream's name, default and value
 * format. How each value lands in ServerConfig is in server-options.ts; flags
 * whose feature has not landed are listed in not-yet.ts.
 */
import { SERVER_CERT_FLAGS } from './cert-flags.js';
import type { FlagSpec } from './flag-spec.js';
import { SERVER_HOOK_FLAGS } from './hook-flags.js';
import { SERVER_PULL_FLAGS } from './pull-flags.js';

export const SERVER_FLAGS: readonly FlagSpec[] = [
  // Frontend
  {
    name: 'uds-name',
    kind: 'string',
    def: '',
    group: 'frontend',
    doc: 'Serve the frontend on this Unix socket (plaintext; access is guarded by file permissions). With it, the TCP frontend is off unless --server-port is given too.',
  },
  {
    name: 'delete-existing-uds-file',
    kind: 'bool',
    def: 'true',
    group: 'frontend',
    doc: 'Remove a leftover socket file at --uds-name before listening.',
  },
  {
    name: 'server-port',
    kind: 'int',
    def: '8090',
    group: 'frontend',
    doc: 'TCP port of the mTLS frontend (needs --server-cert, --server-key, --server-ca-cert). 0 with --uds-name: no TCP frontend.',
  },
  {
    name: 'server-bind-address',
    kind: 'string',
    def: '',
    group: 'frontend',
    doc: 'Address the TCP frontend binds to; empty means every interface.',
  },
  {
    name: 'frontend-keepalive-time',
    kind: 'duration',
    def: '1h0m0s',
    group: 'frontend',
    doc: 'Interval of the keepalive pings the server sends on idle frontend connections.',
  },
  // Agent listener
  {
    name: 'agent-port',
    kind: 'int',
    def: '8091',
    group: 'agent-listener',
    doc: 'Port agents connect to (gRPC over TLS, always). This is the only port that needs to be public.',
  },
  {
    name: 'agent-bind-address',
    kind: 'string',
    def: '',
    group: 'agent-listener',
    doc: 'Address the agent listener binds to; empty means every interface.',
  },
  {
    name: 'keepalive-time',
    kind: 'duration',
    def: '1h0m0s',
    group: 'agent-listener',
    doc: 'Interval of the keepalive pings the server sends on idle agent connections.',
  },
  // Health and admin
  {
    name: 'health-port',
    kind: 'int',
    def: '8092',
    group: 'health-admin',
    doc: 'Port of /healthz, /readyz and /metrics.',
  },
  {
    name: 'health-bind-address',
    kind: 'string',
    def: '',
    group: 'health-admin',
    doc: 'Address the health endpoint binds to; empty means every interface.',
  },
  {
    name: 'admin-port',
    kind: 'int',
    def: '8095',
    group: 'health-admin',
    doc: 'Port of the admin endpoint (/metrics and the connected agents).',
  },
  {
    name: 'admin-bind-address',
    kind: 'string',
    def: '127.0.0.1',
    group: 'health-admin',
    doc: 'Address the admin endpoint binds to; empty means every interface.',
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
  // TLS
  {
    name: 'server-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM certificate of the TCP frontend (needs --server-key).',
  },
  {
    name: 'server-key',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM private key of the TCP frontend (needs --server-cert).',
  },
  {
    name: 'server-ca-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'CA bundle that frontend clients must present a certificate from. Required with the TCP frontend.',
  },
  {
    name: 'cluster-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM certificate of the agent listener (needs --cluster-key).',
  },
  {
    name: 'cluster-key',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'PEM private key of the agent listener (needs --cluster-cert).',
  },
  {
    name: 'cluster-ca-cert',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'When set, agents must present a client certificate from this CA bundle. A certificate CN=tunnel-agent:<cluster> may announce only agent id and host=<cluster>; any other CN (e.g. an upstream proxy-agent certificate) is not bound unless --bind-agent-id-to-cn. With --cert-source=csr: more CAs whose agent certificates are accepted besides the tunnel CA.',
  },
  {
    name: 'bind-agent-id-to-cn',
    kind: 'bool',
    def: 'false',
    group: 'tls',
    doc: 'An agent whose client certificate has any other CN may announce only the agent id and host= identifier equal to that CN, so one cluster cannot register as another. Off by default because upstream agents often share one certificate.',
  },
  {
    name: 'cipher-suites',
    kind: 'list',
    def: '',
    group: 'tls',
    doc: "Comma-separated TLS 1.2 cipher suites in Go's names (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) for both listeners. Empty means the defaults; no effect on TLS 1.3.",
  },
  {
    name: 'tls-min-version',
    kind: 'string',
    def: '',
    group: 'tls',
    doc: 'Lowest TLS version of both listeners: VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13. Empty means VersionTLS12.',
  },
  // Authentication
  {
    name: 'agent-namespace',
    kind: 'string',
    def: '',
    group: 'auth',
    doc: 'Token authentication of agents: the namespace of their ServiceAccount. Needs --agent-service-account, --authentication-audience and --kubeconfig (or running in a cluster).',
  },
  {
    name: 'agent-service-account',
    kind: 'string',
    def: '',
    group: 'auth',
    doc: 'Token authentication of agents: the name of their ServiceAccount.',
  },
  {
    name: 'authentication-audience',
    kind: 'string',
    def: '',
    group: 'auth',
    doc: 'Token authentication of agents: the audience their tokens must carry (usually system:konnectivity-server).',
  },
  {
    name: 'kubeconfig',
    kind: 'string',
    def: '',
    group: 'auth',
    doc: 'Kubeconfig of the meta cluster (token reviews, Leases, the csr signer); empty means the in-cluster configuration.',
  },
  {
    name: 'kubeconfig-qps',
    kind: 'float',
    def: '0',
    group: 'auth',
    doc: 'Request rate limit of the Kubernetes client (0 = client default).',
  },
  {
    name: 'kubeconfig-burst',
    kind: 'int',
    def: '0',
    group: 'auth',
    doc: 'Request burst of the Kubernetes client (0 = client default).',
  },
  {
    name: 'kube-api-content-type',
    kind: 'string',
    def: 'application/vnd.kubernetes.protobuf',
    group: 'auth',
    doc: 'Content type of requests to the Kubernetes API.',
  },
  // Routing and connections
  {
    name: 'proxy-strategies',
    kind: 'string',
    def: 'default',
    group: 'routing',
    doc: 'Comma-separated, ordered ways to pick an agent for a dial: default (any agent), destHost (the agent whose identifiers name the dialed host), defaultRoute (agents announcing default-route=true).',
  },
  {
    name: 'xfr-channel-size',
    kind: 'int',
    def: '10',
    group: 'routing',
    doc: 'Packets queued per connection before backpressure applies.',
  },
  {
    name: 'frontend-write-channel-size',
    kind: 'int',
    def: '10',
    group: 'routing',
    doc: 'Packets buffered per HTTP CONNECT connection before the agent stream waits.',
  },
  {
    name: 'backend-dial-timeout',
    kind: 'duration',
    def: '0s',
    group: 'routing',
    doc: 'Fail a dial whose agent has not answered within this time (0 = no limit).',
  },
  {
    name: 'graceful-shutdown-timeout',
    kind: 'duration',
    def: '0s',
    group: 'routing',
    doc: 'On SIGTERM, let open connections finish for up to this long before closing them (0 = close at once).',
  },
  // HA
  {
    name: 'server-id',
    kind: 'string',
    def: '',
    group: 'ha',
    doc: 'Unique id of this server replica, sent to agents. Empty: env PROXY_SERVER_ID, else a random UUID.',
  },
  {
    name: 'server-count',
    kind: 'int',
    def: '1',
    group: 'ha',
    doc: 'Number of server replicas behind the agents\' address; agents keep one connection to each.',
  },
  {
    name: 'enable-lease-controller',
    kind: 'bool',
    def: 'false',
    group: 'ha',
    doc: 'Publish a Lease per replica so that agents can count the servers (--count-server-leases).',
  },
  {
    name: 'lease-namespace',
    kind: 'string',
    def: 'kube-system',
    group: 'ha',
    doc: 'Namespace of the server Leases.',
  },
  {
    name: 'lease-label',
    kind: 'string',
    def: 'k8s-app=konnectivity-server',
    group: 'ha',
    doc: 'Comma-separated key=value labels of the server Leases.',
  },
  // Certificates and hooks (ours)
  ...SERVER_CERT_FLAGS,
  ...SERVER_HOOK_FLAGS,
  // Compatibility only
  {
    name: 'warn-on-channel-limit',
    kind: 'bool',
    def: 'true',
    group: 'compat',
    doc: 'Deprecated upstream; the behaviour is always on.',
    ignored: 'deprecated upstream; the behaviour is always on',
  },
  // Pull mode (ours)
  ...SERVER_PULL_FLAGS,
];
