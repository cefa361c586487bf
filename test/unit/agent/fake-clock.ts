/** A @sinonjs/fake-timers clock adapted to the agent's AgentClock. */
import FakeTimers from '@sinonjs/fake-timers';
import type { AgentClock } from '../../../src/agent/clock.js';

/** A fake clock (`fake`, to tick) and the AgentClock view of it (`clock`, to inject). */
export function fakeClock(start = 1_700_000_000_000): { fake: FakeTimers.Clock; clock: AgentClock } {
  const fake = FakeTimers.createClock(start);
  const clock: AgentClock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => {
      if (h !== undefined) fake.clearTimeout(h as FakeTimers.TimerId);
    },
  };
  return { fake, clock };
}
