import { describe, expect, it } from '@jest/globals';
import { SyncBackoff } from '../../../src/agent/backoff.js';

describe('SyncBackoff', () => {
  const make = (random: () => number): SyncBackoff => new SyncBackoff({ baseMs: 1000, capMs: 10_000, factor: 1.5, jitter: 0.1, random });

  it('grows ×1.5 per error up to the cap, with at most 10 % jitter on top', () => {
    const lo = make(() => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => lo.step())).toEqual([1000, 1500, 2250, 3375, 5062.5, 7593.75, 10_000, 10_000]);
    const hi = make(() => 0.999999);
    const waits = [1, 2, 3, 4, 5, 6, 7, 8].map(() => hi.step());
    const base = [1000, 1500, 2250, 3375, 5062.5, 7593.75, 10_000, 10_000];
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(base[i]!);
      expect(w).toBeLessThan(base[i]! * 1.1);
    });
  });

  it('returns to the base interval after a success', () => {
    const b = make(() => 0.5);
    b.step();
    b.step();
    b.step();
    expect(b.intervalMs).toBe(3375);
    expect(b.reset()).toBe(1050);
    expect(b.intervalMs).toBe(1000);
  });

  it('keeps the interval for same()', () => {
    const b = make(() => 0);
    b.step();
    expect(b.same()).toBe(1500);
    expect(b.same()).toBe(1500);
  });
});
