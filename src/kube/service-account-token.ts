/**
 * ServiceAccount tokens through the TokenRequest API
 * (`serviceaccounts/{name}/token`): the only permission it needs is
 * `create` on that subresource for one named ServiceAccount. The token is
 * only ever in the answer; errors never carry it.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';

/** Options of createTokenRequester. */
export interface TokenRequesterOptions {
  /** Deadline of one request; default 10 s. */
  timeoutMs?: number;
}

/** What to ask for. */
export interface TokenRequestSpec {
  /** Requested lifetime; the API may shorten it (and refuses less than 600). */
  expirationSeconds: number;
  /** Audiences; default the API server's own. */
  audiences?: string[];
}

/** An issued token. */
export interface IssuedToken {
  token: string;
  /** When the API says it expires. */
  expiresAt: Date;
}

/** Issues tokens for ServiceAccounts. */
export interface TokenRequester {
  /** Requests a token for `namespace/name`; rejects with KubeError (NotFound when the ServiceAccount is missing). */
  request(namespace: string, name: string, spec: TokenRequestSpec): Promise<IssuedToken>;
}

/** The TokenRequester of a cluster. */
export function createTokenRequester(kc: KubeConfig, opts: TokenRequesterOptions = {}): TokenRequester {
  const api = kc.makeApiClient(CoreV1Api);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    async request(namespace, name, spec) {
      const answer = await kubeCall(`request a token for ServiceAccount ${namespace}/${name}`, () =>
        api.createNamespacedServiceAccountToken(
          {
            name,
            namespace,
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: { expirationSeconds: spec.expirationSeconds, audiences: spec.audiences ?? [] },
            },
          },
          deadline(timeoutMs),
        ),
      );
      const token = answer.status?.token;
      const exp = answer.status?.expirationTimestamp as unknown;
      const expiresAt = exp instanceof Date ? exp : new Date(String(exp));
      if (!token || Number.isNaN(expiresAt.getTime())) {
        throw new Error(`request a token for ServiceAccount ${namespace}/${name}: the answer has no token or expiry`);
      }
      return { token, expiresAt };
    },
  };
}
