/**
 * Pull mode configuration of the agent, as plain data. The CLI fills it from
 * --pull-listen, --pull-proxy and the --pull-kube-* flags
 * (src/cli/pull-options.ts); tests build it directly. Defaults are in
 * ./defaults.ts.
 */

/** A local port forward: TCP connections to host:port become pull connections to `name`. */
export interface PullListen {
  /** The target name on the server's side. */
  name: string;
  /** Bind address; '' = every interface. */
  host: string;
  /** Port; 0 = ephemeral (tests). */
  port: number;
}

/** The local HTTP CONNECT proxy: `CONNECT NAME:ANYPORT` reaches target NAME. */
export interface PullProxyListen {
  /** Bind address; '' = every interface. */
  host: string;
  port: number;
}

/** How the in-process meta-cluster KubeConfig reaches and authenticates to the meta apiserver. */
export interface MetaKubeSettings {
  /** The pull target name of the meta apiserver; the server URL is https://<target>. */
  target: string;
  /** PEM CA bundle of the meta apiserver ('' = the system roots). */
  caCert: string;
  /** File holding a bearer token for the meta apiserver, re-read as it changes ('' = none). */
  tokenPath: string;
  /** Name to check the apiserver certificate against, when not the target name ('' = the target name). */
  tlsServerName: string;
}

/** Everything pull mode needs on the agent. */
export interface AgentPullConfig {
  /** Port forwards, one per target name. */
  listen: PullListen[];
  /** The HTTP CONNECT proxy, if any. */
  proxy?: PullProxyListen;
  /** The meta-cluster KubeConfig factory's defaults. */
  kube: MetaKubeSettings;
}
