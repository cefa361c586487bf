/**
 * The credential from the ServiceAccount's token Secret (type
 * kubernetes.io/service-account-token, filled by the token controller):
 * `token` and `ca.crt` of the Secret, the CA falling back to the cluster's.
 * Changes are noticed with a watch on that one Secret.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { createSecretStore, watchSecret, type KubeError, type SecretRecord } from '../../kube/index.js';
import type { Logger } from '../../observability/logger.js';
import { sleep, type HookClock } from '../clock.js';
import { SECRET_WATCH_RETRY_MS, SECRET_WATCH_TIMEOUT_S } from '../defaults.js';
import { HookError } from '../errors.js';
import { readClusterCa } from './cluster-ca.js';
import type { CredentialSource, ManagedCredential } from './types.js';

const TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token';
const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';

/** Options of createTokenSecretSource. */
export interface TokenSecretSourceOptions {
  /** The managed cluster. */
  kubeConfig: KubeConfig;
  serviceAccount: { namespace: string; name: string };
  /** The Secret's name, in the ServiceAccount's namespace. */
  secretName: string;
  clock: HookClock;
  logger: Logger;
}

/** A CredentialSource over a token Secret. */
export function createTokenSecretSource(opts: TokenSecretSourceOptions): CredentialSource {
  const store = createSecretStore(opts.kubeConfig);
  const { namespace } = opts.serviceAccount;
  const ref = `${namespace}/${opts.secretName}`;
  let lastVersion: string | undefined;

  const credentialOf = async (s: SecretRecord | undefined): Promise<ManagedCredential> => {
    const fail = (why: string): HookError => new HookError('ERR_HOOK_CREDENTIAL', `token Secret ${ref} ${why}`);
    if (!s) throw fail('not found');
    if (s.type !== TOKEN_SECRET_TYPE) throw fail(`is of type ${s.type ?? 'Opaque'}, not ${TOKEN_SECRET_TYPE}`);
    const owner = s.annotations?.[SA_NAME_ANNOTATION];
    if (owner !== undefined && owner !== opts.serviceAccount.name) {
      throw fail(`belongs to ServiceAccount "${owner}", not "${opts.serviceAccount.name}"`);
    }
    const token = s.data.token?.toString('utf8').trim();
    if (!token) throw fail('has no token yet (the token controller fills it in)');
    const ca = s.data['ca.crt']?.toString('utf8');
    return { token, caPem: ca && ca.trim() !== '' ? ca : await readClusterCa(opts.kubeConfig, namespace, opts.logger) };
  };

  return {
    description: `token Secret ${ref}`,
    async current(signal) {
      const s = await store.get(namespace, opts.secretName);
      signal.throwIfAborted();
      lastVersion = s?.resourceVersion;
      return credentialOf(s);
    },
    changed(signal) {
      return new Promise<void>((resolve) => {
        let watch: { stop(): void } | undefined;
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', finish);
          watch?.stop();
          resolve();
        };
        const failed = (err: KubeError): void => {
          opts.logger.warn('token Secret watch failed; reading it again shortly', { secret: ref, error: err.message });
          void sleep(opts.clock, SECRET_WATCH_RETRY_MS, signal).then(finish);
        };
        signal.addEventListener('abort', finish, { once: true });
        if (signal.aborted) return finish();
        watchSecret(
          opts.kubeConfig,
          namespace,
          opts.secretName,
          { ...(lastVersion ? { resourceVersion: lastVersion } : {}), timeoutSeconds: SECRET_WATCH_TIMEOUT_S },
          {
            onEvent: (_type, s) => {
              if (s.resourceVersion !== lastVersion) finish();
            },
            onEnd: (err) => (err ? failed(err) : finish()),
          },
        ).then(
          (w) => {
            watch = w;
            if (done) w.stop();
          },
          (err: unknown) => failed(err as KubeError),
        );
      });
    },
  };
}
