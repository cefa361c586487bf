/**
 * The credential from the TokenRequest API: a fresh bound token for the
 * ServiceAccount on each read, replaced at 80 % of its lifetime (the
 * lifetime asked for, or less when the API shortened it).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { createTokenRequester } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import { sleep, type HookClock } from '../clock.js';
import { TOKEN_REFRESH_FRACTION } from '../defaults.js';
import { readClusterCa } from './cluster-ca.js';
import type { CredentialSource, ManagedCredential } from './types.js';

/** Options of createTokenRequestSource. */
export interface TokenRequestSourceOptions {
  /** The managed cluster. */
  kubeConfig: KubeConfig;
  serviceAccount: { namespace: string; name: string };
  /** Lifetime to ask for. */
  ttlMs: number;
  clock: HookClock;
  logger: Logger;
}

/** A CredentialSource over TokenRequest. */
export function createTokenRequestSource(opts: TokenRequestSourceOptions): CredentialSource {
  const requester = createTokenRequester(opts.kubeConfig);
  const { namespace, name } = opts.serviceAccount;
  let refreshAt: number | undefined;
  return {
    description: `TokenRequest for ServiceAccount ${namespace}/${name}`,
    async current(signal): Promise<ManagedCredential> {
      const asked = opts.clock.now();
      const issued = await requester.request(namespace, name, { expirationSeconds: Math.round(opts.ttlMs / 1000) });
      signal.throwIfAborted();
      const lifetimeMs = Math.max(0, Math.min(opts.ttlMs, issued.expiresAt.getTime() - asked));
      refreshAt = asked + lifetimeMs * TOKEN_REFRESH_FRACTION;
      const caPem = await readClusterCa(opts.kubeConfig, namespace, opts.logger);
      return { token: issued.token, caPem, expiresAt: issued.expiresAt };
    },
    async changed(signal) {
      const wait = refreshAt === undefined ? 0 : refreshAt - opts.clock.now();
      await sleep(opts.clock, wait, signal);
    },
  };
}
