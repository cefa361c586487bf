/**
 * Agent authentication by ServiceAccount token, with upstream
 * proxy-server's rules (--agent-namespace, --agent-service-account,
 * --authentication-audience): exactly one `authorization` value of the
 * form `Bearer <token>`; a TokenReview for [audience] that is authenticated
 * without error; and the user `system:serviceaccount:<namespace>:<name>`.
 * Every refusal says what was wrong; the token itself is never logged or
 * echoed.
 *
 * Beyond upstream, `extraUsers` accepts more users with identities of their
 * own: csr mode accepts each cluster's bootstrap ServiceAccount
 * `tunnel-bootstrap-<cluster>` bound to that cluster (bootstrap-token.ts).
 * Without namespace/serviceAccount only those users are accepted; with an
 * empty audience the review uses the API server's own audiences.
 */
import { createHash } from 'node:crypto';
import type { TokenReviewer, TokenReviewResult } from '../../kube/types.js';
import type { Logger } from '../../observability/logger.js';
import { AgentAuthError, type AgentAuthContext, type AgentAuthenticator, type AgentIdentity } from './types.js';

/** Default lifetime of a cached review outcome. */
export const TOKEN_CACHE_TTL_MS = 10_000;
/** Default bound of the review cache. */
export const TOKEN_CACHE_MAX_ENTRIES = 1024;

const BEARER = 'Bearer ';

/** Options of createTokenAuthenticator. */
export interface TokenAuthenticatorOptions {
  /** Namespace of the agents' ServiceAccount (--agent-namespace); '' with serviceAccount '' = no such user. */
  namespace: string;
  /** Name of the agents' ServiceAccount (--agent-service-account). */
  serviceAccount: string;
  /** Audience the token must be valid for (--authentication-audience), e.g. `system:konnectivity-server`; '' = the API server's own. */
  audience: string;
  /** More users accepted, each with the identity the rule gives it (e.g. bound to one cluster). */
  extraUsers?: TokenUserRule;
  /** Asks the API server about a token. */
  reviewer: TokenReviewer;
  logger: Logger;
  /** How long an accept or refuse outcome is reused for the same token; default 10 s, 0 disables. */
  cacheTtlMs?: number;
  /** Most outcomes kept; the oldest go first. Default 1024. */
  maxCacheEntries?: number;
  /** Clock in ms, for tests; default Date.now. */
  now?: () => number;
}

/**
 * Refusal because the token could not be checked (the API did not answer),
 * not because it is bad: the agent should retry. Carries
 * ERR_AGENT_UNAUTHENTICATED (the contract's codes); `temporary` tells the
 * two apart.
 */
export class AgentAuthUnavailableError extends AgentAuthError {
  readonly temporary = true;
  constructor(message: string) {
    super('ERR_AGENT_UNAUTHENTICATED', message);
    this.name = 'AgentAuthUnavailableError';
  }
}

/** Users accepted besides --agent-namespace/--agent-service-account. */
export interface TokenUserRule {
  /** Who is accepted, for refusal messages, e.g. `system:serviceaccount:kube-system:tunnel-bootstrap-<cluster>`. */
  description: string;
  /** The identity of an authenticated user name, or undefined when the rule does not accept it. */
  identityOf(username: string): AgentIdentity | undefined;
}

type Outcome = { identity: AgentIdentity } | { refusal: AgentAuthError };

/**
 * Creates the token authenticator. Outcomes (accepted, or refused by the
 * review) are cached for a short time (default 10 s) under a SHA-256 of
 * the token, and concurrent Connects with the same token share one
 * TokenReview, so reconnect storms do not flood the API server. A failed
 * TokenReview call is never cached.
 */
export function createTokenAuthenticator(opts: TokenAuthenticatorOptions): AgentAuthenticator {
  const upstreamUser = opts.namespace !== '' || opts.serviceAccount !== '' ? `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}` : undefined;
  const expected = [upstreamUser, opts.extraUsers?.description].filter((e) => e !== undefined).join(' or ');
  const audiences = opts.audience !== '' ? [opts.audience] : [];
  const audienceText = opts.audience !== '' ? `audience ${opts.audience}` : "the API server's audiences";
  const ttl = opts.cacheTtlMs ?? TOKEN_CACHE_TTL_MS;
  const max = opts.maxCacheEntries ?? TOKEN_CACHE_MAX_ENTRIES;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { until: number; outcome: Outcome }>();
  const inflight = new Map<string, Promise<Outcome>>();
  const log = opts.logger;

  const remember = (key: string, outcome: Outcome): void => {
    if (ttl <= 0) return;
    cache.delete(key);
    cache.set(key, { until: now() + ttl, outcome });
    while (cache.size > max) cache.delete(cache.keys().next().value!);
  };

  const review = async (token: string, key: string): Promise<Outcome> => {
    let result: TokenReviewResult;
    try {
      result = await opts.reviewer.review(token, audiences);
    } catch (err) {
      // The detail (API address, network error) is for the operator's log, not for an unauthenticated peer.
      log.warn('TokenReview failed', { error: redact(err instanceof Error ? err.message : String(err), token) });
      return {
        refusal: new AgentAuthUnavailableError('could not verify the token: the TokenReview to the Kubernetes API failed; try again later'),
      };
    }
    const outcome = judge(result, token);
    remember(key, outcome);
    return outcome;
  };

  const judge = (r: TokenReviewResult, token: string): Outcome => {
    if (r.error || !r.authenticated) {
      const why = r.error ? redact(r.error, token) : 'not authenticated (unknown, expired or revoked token)';
      return { refusal: new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', `token not valid for ${audienceText}: ${why}`) };
    }
    if (opts.audience !== '' && r.audiences.length > 0 && !r.audiences.includes(opts.audience)) {
      return {
        refusal: new AgentAuthError(
          'ERR_AGENT_UNAUTHENTICATED',
          `token not valid for audience ${opts.audience} (valid for ${r.audiences.join(', ')})`,
        ),
      };
    }
    if (upstreamUser !== undefined && r.username === upstreamUser) return { identity: { subject: r.username, method: 'token' } };
    const other = r.username !== undefined ? opts.extraUsers?.identityOf(r.username) : undefined;
    if (other) return { identity: other };
    return { refusal: new AgentAuthError('ERR_AGENT_FORBIDDEN', `token is for ${r.username ?? '(no user)'}, expected ${expected}`) };
  };

  const outcomeOf = (token: string): Promise<Outcome> => {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = cache.get(key);
    if (hit && hit.until > now()) return Promise.resolve(hit.outcome);
    if (hit) cache.delete(key);
    let p = inflight.get(key);
    if (!p) {
      p = review(token, key).finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    return p;
  };

  return {
    async authenticate(ctx: AgentAuthContext): Promise<AgentIdentity> {
      const fields = { agentID: ctx.agentID, peer: ctx.peer };
      const token = bearerToken(ctx.authorization);
      const outcome = typeof token === 'string' ? await outcomeOf(token) : { refusal: token };
      if ('identity' in outcome) {
        log.debug('agent authenticated by token', { ...fields, subject: outcome.identity.subject });
        return outcome.identity;
      }
      log.warn('agent token refused', { ...fields, reason: outcome.refusal.message });
      throw outcome.refusal;
    },
  };
}

/** The token of the single `Bearer` value (used as is, untrimmed, like upstream), or the refusal. */
function bearerToken(values: string[]): string | AgentAuthError {
  const refuse = (m: string): AgentAuthError => new AgentAuthError('ERR_AGENT_UNAUTHENTICATED', m);
  if (values.length === 0) {
    return refuse('missing "authorization" metadata: token authentication needs one "authorization: Bearer <token>" value');
  }
  if (values.length > 1) {
    return refuse(`got ${values.length} "authorization" metadata values, token authentication needs exactly one`);
  }
  const v = values[0]!;
  if (!v.startsWith(BEARER)) return refuse('the "authorization" metadata value is not a Bearer token (expected "Bearer <token>")');
  const token = v.slice(BEARER.length);
  if (token === '') return refuse('the Bearer token in "authorization" is empty');
  return token;
}

/** Removes any copy of the token from a message that came from elsewhere. */
function redact(message: string, token: string): string {
  return token.length > 0 ? message.split(token).join('<token>') : message;
}
