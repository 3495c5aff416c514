/**
 * The scheduled refresh job's limiter: a token bucket of token-set writes per second. Secrets Manager's
 * PutSecretValue quota (about 50/s per region) is shared by the whole account, so the job takes an
 * explicit share of it (docs/design.md "Scale and cost limits"), whatever its concurrency and however
 * fast the authorization servers answer. Time is injected; reservations are first come, first served.
 */
import type { Clock } from './ports.js';

/** A fifth of Secrets Manager's account-wide PutSecretValue rate. */
export const DEFAULT_WRITES_PER_SECOND = 10;

export interface WriteBudgetOptions {
  /** Sustained writes per second; `Infinity` for no limit. */
  perSecond: number;
  /** Writes allowed at once after an idle spell; default one second's worth. */
  burst?: number;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
}

export class WriteBudget {
  readonly perSecond: number;
  readonly burst: number;
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Writes available at `#at`; negative when future writes are already reserved. */
  #tokens: number;
  #at: number;

  constructor(options: WriteBudgetOptions) {
    if (!(options.perSecond > 0)) throw new RangeError('perSecond must be a positive number (Infinity: no limit)');
    this.perSecond = options.perSecond;
    this.burst = Math.max(1, options.burst ?? Math.ceil(options.perSecond));
    this.#clock = options.clock;
    this.#sleep = options.sleep;
    this.#tokens = this.burst;
    this.#at = options.clock();
  }

  /**
   * Reserves one write and returns how many milliseconds to wait before making it; `undefined` (nothing
   * reserved) when it could not be made before `deadline` (epoch milliseconds).
   */
  reserve(deadline: number = Infinity): number | undefined {
    if (this.perSecond === Infinity) return 0;
    const now = this.#clock();
    const tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    const waitMs = tokens >= 1 ? 0 : ((1 - tokens) / this.perSecond) * 1000;
    if (now + waitMs > deadline) return undefined;
    this.#tokens = tokens - 1;
    this.#at = now;
    return waitMs;
  }

  /** Waits for a write's turn; `false` when its turn would come after `deadline`. */
  async take(deadline?: number): Promise<boolean> {
    const waitMs = this.reserve(deadline);
    if (waitMs === undefined) return false;
    if (waitMs > 0) await this.#sleep(waitMs);
    return true;
  }
}
