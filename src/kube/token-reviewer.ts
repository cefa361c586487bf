/** TokenReviewer over authentication.k8s.io/v1 TokenReview. */
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';
import type { TokenReviewer, TokenReviewResult } from './types.js';

/** Options of createTokenReviewer. */
export interface TokenReviewerOptions {
  /** Deadline of one review; default 10 s. */
  timeoutMs?: number;
}

/** Creates a TokenReview for each call; the token goes only into the request body. */
export function createTokenReviewer(kc: KubeConfig, opts: TokenReviewerOptions = {}): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    async review(token, audiences): Promise<TokenReviewResult> {
      const answer = await kubeCall('create TokenReview', () =>
        api.createTokenReview(
          { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } },
          deadline(timeoutMs),
        ),
      );
      const s = answer.status ?? {};
      const out: TokenReviewResult = {
        authenticated: s.authenticated === true,
        groups: s.user?.groups ?? [],
        audiences: s.audiences ?? [],
      };
      if (s.user?.username) out.username = s.user.username;
      if (s.user?.uid) out.uid = s.user.uid;
      if (s.error) out.error = s.error;
      return out;
    },
  };
}
