/**
 * Provider `tke`: the same credential report as `tkestack`, stored as a
 * Secret `<cluster-name>-credential` (token, ca.crt, server) in a
 * meta-cluster namespace (--credential-namespace, default tke-anp-tunnel),
 * labelled tunnel.tkestack.io/cluster-name, for platforms without
 * ClusterCredentials.
 */
import {
  createCredentialSource,
  parseCredentialOptions,
  reportCredential,
  type CredentialOptions,
} from '../../src/hooks/credential/index.js';
import {
  DEFAULT_CREDENTIAL_NAMESPACE,
  HookError,
  optionOr,
  type HookOptions,
  type HookProvider,
  type HookProviderInit,
} from '../../src/hooks/index.js';
import { createSecretStore } from '../../src/kube/index.js';
import { credentialSecretName, upsertCredentialSecret } from './report.js';

/** The default --credential-server; {cluster-name} is replaced. */
export const DEFAULT_CREDENTIAL_SERVER = 'https://{cluster-name}:443';

interface TkeOptions {
  credential: CredentialOptions;
  namespace: string;
  server: string;
}

function parse(options: HookOptions): TkeOptions {
  const namespace = optionOr(options, 'credential-namespace', DEFAULT_CREDENTIAL_NAMESPACE);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new HookError('ERR_HOOK_OPTIONS', `invalid value "${namespace}" for --credential-namespace: must be a namespace name (a lower-case DNS label)`);
  }
  return {
    credential: parseCredentialOptions(options),
    namespace,
    server: optionOr(options, 'credential-server', DEFAULT_CREDENTIAL_SERVER),
  };
}

/** Builds the provider; bad options stop the agent's start. */
export default function tke(init: HookProviderInit): HookProvider {
  const parsed = init.role === 'agent' ? parse(init.options) : undefined;
  return {
    name: 'tke',
    async postStartTunnelAgent(ctx) {
      const opts = parsed ?? parse(ctx.options);
      credentialSecretName(ctx.clusterName);
      const store = createSecretStore(ctx.metaKubeConfig);
      const target = { namespace: opts.namespace, clusterName: ctx.clusterName, server: opts.server.replaceAll('{cluster-name}', ctx.clusterName) };
      await reportCredential(ctx, createCredentialSource(ctx, opts.credential), (cred) => upsertCredentialSecret(store, target, cred));
    },
  };
}
