/**
 * Who a bearer token belongs to. Two kinds of tokens, as on a real
 * cluster: static user tokens (audience-agnostic: valid for the API's own
 * audiences only) and bound ServiceAccount tokens from the TokenRequest
 * subresource (valid for the audiences they were issued for, until they
 * expire or their ServiceAccount is deleted). Both the request
 * authentication of the fake API and TokenReview answer from here.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { StoredObject, UserInfo } from './types.js';

/** The default audience of the API server (a kubeadm cluster's service-account issuer). */
export const DEFAULT_API_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];

/** The outcome of checking a token for a set of audiences. */
export type TokenCheck =
  | { authenticated: true; user: UserInfo; audiences: string[] }
  | { authenticated: false; error?: string };

/** A user added with addUser. */
export interface StaticUser {
  name: string;
  token: string;
  groups?: string[];
  uid?: string;
}

interface BoundToken {
  namespace: string;
  serviceAccount: string;
  serviceAccountUid: string;
  audiences: string[];
  expiresAt: Date;
}

/** A token issued by the TokenRequest subresource. */
export interface IssuedToken {
  token: string;
  expiresAt: Date;
  audiences: string[];
}

/** Finds a live ServiceAccount, to invalidate tokens of deleted ones. */
export type ServiceAccountLookup = (namespace: string, name: string) => StoredObject | undefined;

/** The token table of one fake API. */
export class TokenAuthority {
  private readonly users = new Map<string, { info: UserInfo; token: string }>();
  private readonly byToken = new Map<string, UserInfo>();
  private readonly bound = new Map<string, BoundToken>();

  constructor(
    /** Audiences of the API itself; used when a TokenReview names none, and for request authentication. */
    readonly apiAudiences: string[],
    private readonly lookupServiceAccount: ServiceAccountLookup,
  ) {}

  /** Adds (or replaces) a static user. Every user is also in `system:authenticated`. */
  addUser(u: StaticUser): UserInfo {
    const old = this.users.get(u.name);
    if (old) this.byToken.delete(old.token);
    const groups = [...(u.groups ?? [])];
    if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
    const info: UserInfo = { name: u.name, uid: u.uid ?? randomUUID(), groups };
    this.users.set(u.name, { info, token: u.token });
    this.byToken.set(u.token, info);
    return info;
  }

  /** The token of a static user, for building kubeconfigs. */
  tokenOf(userName: string): string | undefined {
    return this.users.get(userName)?.token;
  }

  /** Issues a bound token for a ServiceAccount object. */
  issue(sa: StoredObject, audiences: string[], expirationSeconds: number, now: Date): IssuedToken {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + expirationSeconds * 1000);
    this.bound.set(token, {
      namespace: sa.metadata.namespace ?? '',
      serviceAccount: sa.metadata.name,
      serviceAccountUid: sa.metadata.uid,
      audiences: [...audiences],
      expiresAt,
    });
    return { token, expiresAt, audiences: [...audiences] };
  }

  /** Makes a token unknown from now on. */
  revoke(token: string): void {
    this.bound.delete(token);
    const info = this.byToken.get(token);
    if (info) {
      this.byToken.delete(token);
      this.users.delete(info.name);
    }
  }

  /**
   * Checks a token for the requested audiences (the API's own when empty),
   * the way the API server's authenticators do.
   */
  check(token: string, requested: string[], now: Date): TokenCheck {
    const wanted = requested.length > 0 ? requested : this.apiAudiences;
    const user = this.byToken.get(token);
    if (user) {
      const auds = wanted.filter((a) => this.apiAudiences.includes(a));
      if (auds.length === 0) return { authenticated: false };
      return { authenticated: true, user, audiences: auds };
    }
    const b = this.bound.get(token);
    if (!b) return { authenticated: false };
    const auds = wanted.filter((a) => b.audiences.includes(a));
    if (auds.length === 0) {
      return {
        authenticated: false,
        error: `[invalid bearer token, token audiences ${goList(b.audiences)} is invalid for the target audiences ${goList(wanted)}]`,
      };
    }
    if (now.getTime() >= b.expiresAt.getTime()) {
      return { authenticated: false, error: '[invalid bearer token, service account token has expired]' };
    }
    const sa = this.lookupServiceAccount(b.namespace, b.serviceAccount);
    if (!sa || sa.metadata.uid !== b.serviceAccountUid) {
      return {
        authenticated: false,
        error: `[invalid bearer token, service account ${b.namespace}/${b.serviceAccount} has been deleted]`,
      };
    }
    return {
      authenticated: true,
      user: {
        name: `system:serviceaccount:${b.namespace}:${b.serviceAccount}`,
        uid: b.serviceAccountUid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${b.namespace}`, 'system:authenticated'],
      },
      audiences: auds,
    };
  }
}

/** Go's %q of a string slice: `["a" "b"]`. */
function goList(v: string[]): string {
  return `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;
}
