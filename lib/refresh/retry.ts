/**
 * The one retry helper (the refresh path's writes, a callback's status write): bounded attempts with a
 * doubling pause, and never an attempt that could not finish before the deadline (the lease's end, or the
 * function's).
 */
import type { Clock } from '../ports.js';

export interface RetryOptions {
  attempts: number;
  /** The pause after the first failure; it doubles after each. */
  firstPauseMs: number;
  /** Epoch milliseconds after which no attempt may still be running. */
  deadline: number;
  /** How long one attempt (and what must follow it) can take: no attempt starts with less time left. */
  attemptMs: number;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  /** Failures worth another attempt; others are thrown at once. */
  retryable: (error: unknown) => boolean;
  onFailure?: (error: unknown, attempt: number) => void;
}

/** `work`'s result, or its last failure once the attempts or the time run out. */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (!options.retryable(error)) throw error;
      options.onFailure?.(error, attempt);
      const pause = options.firstPauseMs * 2 ** (attempt - 1);
      if (attempt >= options.attempts || options.deadline - options.clock() < pause + options.attemptMs) throw error;
      await options.sleep(pause);
    }
  }
}
