/** Picks the CredentialSource the options ask for, on the managed cluster of an agent hook. */
import type { AgentHookContext } from '../types.js';
import type { CredentialOptions } from './options.js';
import { createTokenFileSource } from './token-file-source.js';
import { createTokenRequestSource } from './token-request-source.js';
import { createTokenSecretSource } from './token-secret-source.js';
import type { CredentialSource } from './types.js';

/** The source of `opts.source` for the hook's managed cluster. */
export function createCredentialSource(ctx: AgentHookContext, opts: CredentialOptions): CredentialSource {
  const common = { kubeConfig: ctx.managedKubeConfig, clock: ctx.clock };
  switch (opts.source) {
    case 'request':
      return createTokenRequestSource({ ...common, serviceAccount: opts.serviceAccount, ttlMs: opts.tokenTtlMs, logger: ctx.logger });
    case 'secret':
      return createTokenSecretSource({ ...common, serviceAccount: opts.serviceAccount, secretName: opts.tokenSecret, logger: ctx.logger });
    case 'file':
      return createTokenFileSource({ ...common, file: opts.tokenFile });
  }
}
