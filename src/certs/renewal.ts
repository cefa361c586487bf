/**
 * When to renew and when to worry, from a certificate's validity:
 * renewal at a random point between 70 % and 90 % of notBefore→notAfter
 * (client-go's rule); not ready once under 10 % is left.
 */
import {
  NOT_READY_REMAINING_FRACTION,
  RENEW_AT_MAX_FRACTION,
  RENEW_AT_MIN_FRACTION,
  REUSE_MIN_REMAINING_FRACTION,
} from './timing.js';

/** A validity period. */
export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** The renewal time (ms since the epoch) for a random draw in [0, 1). */
export function renewalTime(v: Validity, random: () => number): number {
  const start = v.notBefore.getTime();
  const total = v.notAfter.getTime() - start;
  const f = RENEW_AT_MIN_FRACTION + (RENEW_AT_MAX_FRACTION - RENEW_AT_MIN_FRACTION) * random();
  return Math.round(start + total * f);
}

/** The fraction of the lifetime left at `now` (0 when expired, 1 before notBefore). */
export function remainingFraction(v: Validity, now: number): number {
  const start = v.notBefore.getTime();
  const end = v.notAfter.getTime();
  if (end <= start) return 0;
  return Math.min(1, Math.max(0, (end - now) / (end - start)));
}

/** True when a stored certificate is valid for long enough to be used at start. */
export function reusable(v: Validity, now: number): boolean {
  return remainingFraction(v, now) > REUSE_MIN_REMAINING_FRACTION;
}

/** True when so little lifetime is left that readiness should fail. */
export function nearExpiry(v: Validity, now: number): boolean {
  return remainingFraction(v, now) <= NOT_READY_REMAINING_FRACTION;
}
