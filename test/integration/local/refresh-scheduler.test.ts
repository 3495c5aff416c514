/**
 * The local refresh timer: runs never overlap, `runNow` joins a run in progress, and `stop()` waits for the
 * run in progress (so Ctrl-C never cuts a refresh in the middle) and prevents further runs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RefreshScheduler } from '../../../lib/local/refresh-scheduler.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RefreshScheduler', () => {
  it('runs every interval, first after one interval by default', async () => {
    const run = vi.fn(async () => 'ok');
    const results: string[] = [];
    const scheduler = new RefreshScheduler({ run, intervalMs: 1000, onResult: (r) => results.push(r) });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(run).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(run).toHaveBeenCalledTimes(3);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    await scheduler.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('never overlaps runs, and runNow joins the run in progress', async () => {
    const gate = deferred<string>();
    const run = vi.fn(() => gate.promise);
    const scheduler = new RefreshScheduler({ run, intervalMs: 1000 });
    scheduler.start(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(5000);
    const joined = scheduler.runNow();
    expect(run).toHaveBeenCalledTimes(1);
    gate.resolve('done');
    expect(await joined).toBe('done');
    await scheduler.stop();
  });

  it('stop() waits for the run in progress and prevents further runs', async () => {
    const gate = deferred<string>();
    const run = vi.fn(() => gate.promise);
    const scheduler = new RefreshScheduler({ run, intervalMs: 1000 });
    scheduler.start(0);
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(stopped).toBe(false);
    gate.resolve('done');
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('a failing run is reported and the schedule goes on', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    const scheduler = new RefreshScheduler({
      run: async () => {
        calls += 1;
        if (calls === 1) throw new Error('boom');
        return calls;
      },
      intervalMs: 1000,
      onError: (e) => errors.push(e),
    });
    scheduler.start(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    await scheduler.stop();
  });
});
