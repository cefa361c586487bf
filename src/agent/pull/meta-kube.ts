/**
 * A KubeConfig for the meta cluster's kube-apiserver through pull mode, for
 * the agent's own use (certificate bootstrap, hooks). The server URL is
 * https://<target> (the pull target name, `kubernetes` by default), so TLS
 * checks the apiserver's certificate against that name (the in-cluster
 * apiserver's certificate carries `kubernetes`); every connection is a pull
 * connection, TLS end to end. The token file is read as
 * @kubernetes/client-node reads in-cluster tokens (again every minute), so a
 * rotated token is picked up.
 */
import { TunnelKubeConfig } from '../../client/kube.js';
import type { TunnelDialer } from '../../client/http-agent.js';
import type { MetaKubeSettings } from './config.js';

/** Options of the meta KubeConfig; unset fields come from the --pull-kube-* flags. */
export interface MetaKubeOptions extends Partial<MetaKubeSettings> {
  /** PEM CA bundle given directly (instead of caCert, a file). */
  caData?: string | Buffer;
  /** A bearer token given directly (instead of tokenPath, a file). */
  token?: string;
  /** Default namespace of the context. */
  namespace?: string;
}

/** Builds the meta-cluster KubeConfig whose requests go through `dialer`. */
export function metaKubeConfig(dialer: TunnelDialer, o: MetaKubeOptions): TunnelKubeConfig {
  const target = o.target || 'kubernetes';
  const kc = new TunnelKubeConfig(dialer);
  const caData = o.caData === undefined ? undefined : Buffer.from(o.caData).toString('base64');
  kc.loadFromOptions({
    clusters: [
      {
        name: 'meta',
        server: `https://${target}`,
        skipTLSVerify: false,
        ...(caData ? { caData } : o.caCert ? { caFile: o.caCert } : {}),
        ...(o.tlsServerName ? { tlsServerName: o.tlsServerName } : {}),
      },
    ],
    users: [
      o.token
        ? { name: 'pull', token: o.token }
        : o.tokenPath
          ? { name: 'pull', authProvider: { name: 'tokenFile', config: { tokenFile: o.tokenPath } } }
          : { name: 'pull' },
    ],
    contexts: [{ name: 'meta', cluster: 'meta', user: 'pull', ...(o.namespace ? { namespace: o.namespace } : {}) }],
    currentContext: 'meta',
  });
  return kc;
}
