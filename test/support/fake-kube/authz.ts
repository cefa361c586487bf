/**
 * A small authorizer: a user without rules may do everything (like a
 * cluster admin); once a user has rules, only what a rule allows. Rules
 * name verbs, resources (`secrets`, `serviceaccounts/token`, `*`) and
 * optionally namespaces, names and API groups, much like an RBAC rule.
 * Refusals carry the API server's wording.
 */
import { forbidden, type StatusError } from './status.js';
import type { UserInfo } from './types.js';

/** What a request asks to do, as the authorizer sees it. */
export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** One permission. Unset lists mean "any". */
export interface AccessRule {
  verbs: string[];
  /** `secrets`, `serviceaccounts/token`, `leases`, `*`. */
  resources: string[];
  apiGroups?: string[];
  namespaces?: string[];
  names?: string[];
}

const anyOr = (list: string[] | undefined, v: string | undefined): boolean =>
  list === undefined || list.includes('*') || (v !== undefined && list.includes(v));

/** Rules per user name (static users, or `system:serviceaccount:ns:name`). */
export class Authorizer {
  private readonly rules = new Map<string, AccessRule[]>();

  /** Adds a rule; from then on the user may do only what its rules allow. */
  allow(user: string, rule: AccessRule): void {
    const list = this.rules.get(user) ?? [];
    list.push(rule);
    this.rules.set(user, list);
  }

  /** Drops a user's rules (the user may do everything again). */
  reset(user: string): void {
    this.rules.delete(user);
  }

  /** undefined when allowed, else the 403 to send. */
  check(user: UserInfo, a: RequestAttributes): StatusError | undefined {
    const rules = this.rules.get(user.name);
    if (!rules) return undefined;
    const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const ok = rules.some(
      (r) =>
        anyOr(r.verbs, a.verb) &&
        (r.resources.includes('*') || r.resources.includes(full)) &&
        anyOr(r.apiGroups, a.group) &&
        anyOr(r.namespaces, a.namespace) &&
        (r.names === undefined || (a.name !== undefined && r.names.includes(a.name))),
    );
    if (ok) return undefined;
    const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
    return forbidden(
      { plural: a.resource, group: a.group },
      a.name,
      `User "${user.name}" cannot ${a.verb} resource "${full}" in API group "${a.group}" ${where}`,
    );
  }
}
