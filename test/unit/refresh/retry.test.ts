/**
 * The refresh path's one retry helper: bounded attempts, doubling pauses, no attempt without the time to
 * finish it, and failures that are not worth another attempt thrown at once.
 */
import { describe, expect, it } from 'vitest';
import { retry, type RetryOptions } from '../../../lib/refresh/retry.js';

function setup(overrides: Partial<RetryOptions> = {}) {
  let now = 0;
  const pauses: number[] = [];
  const options: RetryOptions = {
    attempts: 3,
    firstPauseMs: 200,
    deadline: 60_000,
    attemptMs: 5_000,
    clock: () => now,
    sleep: async (ms) => {
      pauses.push(ms);
      now += ms;
    },
    retryable: () => true,
    ...overrides,
  };
  return { options, pauses, advance: (ms: number) => void (now += ms) };
}

const failing = (times: number, value = 'ok') => {
  let calls = 0;
  const work = async () => {
    calls++;
    if (calls <= times) throw new Error(`failure ${calls}`);
    return value;
  };
  return { work, calls: () => calls };
};

describe('retry', () => {
  it('returns the first success, pausing 200 ms then 400 ms between attempts', async () => {
    const { options, pauses } = setup();
    const work = failing(2);
    await expect(retry(work.work, options)).resolves.toBe('ok');
    expect(work.calls()).toBe(3);
    expect(pauses).toEqual([200, 400]);
  });

  it('throws the last failure once the attempts are spent', async () => {
    const { options } = setup();
    const failures: number[] = [];
    const work = failing(5);
    await expect(retry(work.work, { ...options, onFailure: (_, attempt) => failures.push(attempt) })).rejects.toThrow('failure 3');
    expect(work.calls()).toBe(3);
    expect(failures).toEqual([1, 2, 3]);
  });

  it('starts no attempt that could not finish before the deadline', async () => {
    const { options, pauses } = setup({ deadline: 5_300 });
    const work = failing(5);
    // After the first failure 5.3 s are left: a 200 ms pause and a 5 s attempt fit; after the second, no longer.
    await expect(retry(work.work, options)).rejects.toThrow('failure 2');
    expect(work.calls()).toBe(2);
    expect(pauses).toEqual([200]);
  });

  it('throws a failure that is not worth another attempt at once', async () => {
    const { options, pauses } = setup({ retryable: (error) => !(error instanceof TypeError) });
    let calls = 0;
    const work = async () => {
      calls++;
      throw new TypeError('condition failed');
    };
    await expect(retry(work, options)).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
    expect(pauses).toEqual([]);
  });
});
