import { afterEach, describe, expect, it } from '@jest/globals';
import FakeTimers from '@sinonjs/fake-timers';
import { MAX_TIMER_MS, systemClock } from '../../../src/certs/clock.js';

const DAY = 24 * 60 * 60 * 1000;

describe('certificate-layer system clock', () => {
  let clock: ReturnType<typeof FakeTimers.install> | undefined;
  afterEach(() => {
    clock?.uninstall();
    clock = undefined;
  });

  it('waits the whole delay when it is longer than a Node timer allows (a year-long certificate renews after months, not at once)', () => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    const fired: number[] = [];
    const delay = 292 * DAY; // two thirds of a year, what a 1-year certificate's renewal waits
    expect(delay).toBeGreaterThan(MAX_TIMER_MS);
    systemClock.setTimeout(() => fired.push(Date.now()), delay);
    clock.tick(MAX_TIMER_MS + 1);
    expect(fired).toEqual([]);
    clock.tick(delay - MAX_TIMER_MS - 2);
    expect(fired).toEqual([]);
    clock.tick(1);
    expect(fired).toEqual([delay]);
    clock.tick(400 * DAY);
    expect(fired).toEqual([delay]);
  });

  it('cancels a long timer in any of its steps', () => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    let fired = 0;
    const h = systemClock.setTimeout(() => fired++, 100 * DAY);
    clock.tick(30 * DAY);
    systemClock.clearTimeout(h);
    clock.tick(100 * DAY);
    expect(fired).toBe(0);
  });

  it('runs short and non-positive delays as ordinary timers', () => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('a'), 10);
    systemClock.setTimeout(() => fired.push('b'), -5);
    systemClock.setTimeout(() => fired.push('c'), Number.NaN);
    clock.tick(0);
    expect(fired.sort()).toEqual(['b', 'c']);
    clock.tick(10);
    expect(fired.sort()).toEqual(['a', 'b', 'c']);
  });

  it('emits no TimeoutOverflowWarning for a delay of a year on real timers, and does not fire early', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    let fired = false;
    const h = systemClock.setTimeout(() => (fired = true), 365 * DAY);
    await new Promise((r) => setTimeout(r, 50));
    systemClock.clearTimeout(h);
    process.off('warning', onWarning);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
    expect(fired).toBe(false);
  });
});
