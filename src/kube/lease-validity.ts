/**
 * When a Lease is live, as upstream konnectivity judges server Leases: its
 * renewTime (else its acquireTime) plus leaseDurationSeconds lies in the
 * future. A Lease with neither time, or without a duration, is expired.
 * Pure: the caller passes the current time, so a fake clock decides.
 */
import type { LeaseRecord } from './types.js';

/** The instant (ms since the epoch) the Lease stops being live; undefined when it never was. */
export function leaseExpiresAt(lease: Pick<LeaseRecord, 'renewTime' | 'acquireTime' | 'leaseDurationSeconds'>): number | undefined {
  const last = lease.renewTime ?? lease.acquireTime;
  if (last === undefined || lease.leaseDurationSeconds === undefined) return undefined;
  return last.getTime() + lease.leaseDurationSeconds * 1000;
}

/** True while renewTime (or acquireTime) + leaseDurationSeconds is after `nowMs`. */
export function isLeaseLive(lease: Pick<LeaseRecord, 'renewTime' | 'acquireTime' | 'leaseDurationSeconds'>, nowMs: number): boolean {
  const end = leaseExpiresAt(lease);
  return end !== undefined && end > nowMs;
}

/** How many of `leases` are live at `nowMs`. */
export function countLiveLeases(leases: Iterable<Pick<LeaseRecord, 'renewTime' | 'acquireTime' | 'leaseDurationSeconds'>>, nowMs: number): number {
  let n = 0;
  for (const l of leases) if (isLeaseLive(l, nowMs)) n++;
  return n;
}
