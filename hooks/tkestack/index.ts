/**
 * Provider `tkestack`: after the agent's first connection, reports the
 * credential of a dedicated managed-cluster ServiceAccount
 * (--credential-service-account) into the cluster's ClusterCredential
 * (platform.tkestack.io/v1) in the meta cluster, so the platform can build
 * a client of the cluster; re-reports whenever the token rotates, until
 * the agent stops.
 */
import {
  createCredentialSource,
  parseCredentialOptions,
  reportCredential,
  type CredentialOptions,
} from '../../src/hooks/credential/index.js';
import type { HookProvider, HookProviderInit } from '../../src/hooks/index.js';
import { createClusterCredentialClient } from '../../src/kube/index.js';
import { reportToClusterCredential } from './report.js';

/** Builds the provider; bad credential options stop the agent's start. */
export default function tkestack(init: HookProviderInit): HookProvider {
  const parsed: CredentialOptions | undefined = init.role === 'agent' ? parseCredentialOptions(init.options) : undefined;
  return {
    name: 'tkestack',
    async postStartTunnelAgent(ctx) {
      const opts = parsed ?? parseCredentialOptions(ctx.options);
      const client = createClusterCredentialClient(ctx.metaKubeConfig);
      await reportCredential(ctx, createCredentialSource(ctx, opts), (cred) =>
        reportToClusterCredential(client, ctx.clusterName, cred, ctx.logger),
      );
    },
  };
}
