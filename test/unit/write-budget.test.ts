/**
 * The job's write budget (a token bucket) on an injected clock: bursts, sustained rate, fairness between
 * concurrent workers, and deadlines.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_WRITES_PER_SECOND, WriteBudget } from '../../lib/write-budget.js';

function clock(start = 1_000_000) {
  const c = { now: start, read: () => c.now, sleep: async (ms: number) => void (c.now += ms) };
  return c;
}

/** Timers on a virtual clock: `run` wakes the earliest sleeper whenever everything else is waiting. */
function virtualTime() {
  let now = 0;
  const timers: Array<{ at: number; wake: () => void }> = [];
  return {
    read: () => now,
    sleep: (ms: number) => new Promise<void>((wake) => timers.push({ at: now + ms, wake })),
    async run(work: Promise<unknown>): Promise<void> {
      let done = false;
      void work.then(() => (done = true));
      while (!done) {
        await new Promise((resolve) => setImmediate(resolve));
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift();
        if (next) {
          now = Math.max(now, next.at);
          next.wake();
        }
      }
      await work;
    },
  };
}

describe('WriteBudget', () => {
  it('allows a burst of one second\'s writes at once, then one write per 1/perSecond', () => {
    const c = clock();
    const budget = new WriteBudget({ perSecond: 10, clock: c.read, sleep: c.sleep });
    const waits = Array.from({ length: 13 }, () => budget.reserve());
    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits.slice(10).map((w) => Math.round(w!))).toEqual([100, 200, 300]);
  });

  it('holds a sustained rate of perSecond, whatever the number of workers', async () => {
    const time = virtualTime();
    const budget = new WriteBudget({ perSecond: 5, burst: 1, clock: time.read, sleep: time.sleep });
    const times: number[] = [];
    let started = 0;
    // 8 workers each writing as fast as the budget lets them.
    const worker = async () => {
      while (started < 50) {
        started++;
        await budget.take();
        times.push(time.read());
      }
    };
    await time.run(Promise.all(Array.from({ length: 8 }, worker)));
    expect(times).toHaveLength(50);
    // One at once, then one every 200 ms: write i never before i × 200 ms.
    const sorted = [...times].sort((a, b) => a - b);
    sorted.forEach((at, i) => expect(at).toBeGreaterThanOrEqual(i * 200 - 1e-6));
    expect(sorted.at(-1)).toBeCloseTo(49 * 200);
  });

  it('refills while idle, never beyond the burst', () => {
    const c = clock();
    const budget = new WriteBudget({ perSecond: 2, burst: 3, clock: c.read, sleep: c.sleep });
    expect([budget.reserve(), budget.reserve(), budget.reserve()]).toEqual([0, 0, 0]);
    expect(budget.reserve()).toBeCloseTo(500);
    c.now += 60_000;
    expect([budget.reserve(), budget.reserve(), budget.reserve()]).toEqual([0, 0, 0]);
    expect(budget.reserve()).toBeCloseTo(500);
  });

  it('refuses a write whose turn comes after the deadline, and reserves nothing for it', async () => {
    const c = clock();
    const budget = new WriteBudget({ perSecond: 1, burst: 1, clock: c.read, sleep: c.sleep });
    expect(await budget.take(c.now)).toBe(true);
    expect(await budget.take(c.now + 500)).toBe(false);
    expect(c.now).toBe(1_000_000);
    // The refused reservation left the next slot free: one second from the first write.
    expect(budget.reserve()).toBeCloseTo(1000);
  });

  it('rejects a budget that is not a positive rate; Infinity never waits', () => {
    const c = clock();
    for (const perSecond of [0, -1, Number.NaN]) {
      expect(() => new WriteBudget({ perSecond, clock: c.read, sleep: c.sleep })).toThrow(RangeError);
    }
    const unlimited = new WriteBudget({ perSecond: Infinity, clock: c.read, sleep: c.sleep });
    expect(Array.from({ length: 1000 }, () => unlimited.reserve(c.now))).toEqual(Array(1000).fill(0));
    expect(DEFAULT_WRITES_PER_SECOND).toBe(10);
  });
});
