/**
 * The pull policy: which target names exist and who may use which. Pure:
 * it decides, the caller acts, logs and counts.
 *
 * A name not allowed for the caller is refused with ERR_PULL_NOT_ALLOWED
 * whether or not a target of that name exists, so an agent cannot probe the
 * server's configuration; the server's log and metric tell the two apart.
 */
import type { PullResult } from '../../observability/pull-metrics.js';
import type { PullErrorCode } from '../../transport/pull-errors.js';
import type { PullAllowRule, PullTarget } from './config.js';
import { ANY_AGENT } from './defaults.js';
import type { PullPrincipal } from './principal.js';

/** The verdict on one pull dial. */
export type PullDecision =
  | { ok: true; target: PullTarget }
  | { ok: false; code: PullErrorCode; result: PullResult; message: string };

/** Targets by name and the allow-list. */
export class PullPolicy {
  private readonly targets = new Map<string, PullTarget>();

  constructor(
    targets: readonly PullTarget[],
    private readonly allow: readonly PullAllowRule[],
  ) {
    for (const t of targets) this.targets.set(t.name, t);
  }

  /** Whether a target of this name is configured (for metric labels). */
  has(name: string): boolean {
    return this.targets.has(name);
  }

  /** Whether the name is configured or named by some allow rule: such names label metrics as themselves. */
  knows(name: string): boolean {
    return this.targets.has(name) || this.allow.some((r) => r.targets.includes(name));
  }

  /** Configured target names, sorted. */
  targetNames(): string[] {
    return [...this.targets.keys()].sort();
  }

  /** Every name some rule allows to this principal (configured or not), sorted. */
  allowedNames(p: PullPrincipal): string[] {
    const out = new Set<string>();
    for (const r of this.allow) {
      if (r.identity === ANY_AGENT || p.names.includes(r.identity)) for (const t of r.targets) out.add(t);
    }
    return [...out].sort();
  }

  /** The names this principal can actually pull: allowed and configured. */
  usableNames(p: PullPrincipal): string[] {
    return this.allowedNames(p).filter((n) => this.targets.has(n));
  }

  /** May this principal pull `name`? */
  decide(p: PullPrincipal, name: string): PullDecision {
    const target = this.targets.get(name);
    if (!this.allowedNames(p).includes(name)) {
      return {
        ok: false,
        code: 'ERR_PULL_NOT_ALLOWED',
        result: target ? 'not_allowed' : 'unknown_target',
        message: `pull target "${name}" is not allowed for agent "${p.agentID}"`,
      };
    }
    if (!target) {
      return {
        ok: false,
        code: 'ERR_PULL_NOT_CONFIGURED',
        result: 'not_configured',
        message: `pull target "${name}" is allowed but not configured on the tunnel server`,
      };
    }
    return { ok: true, target };
  }
}
