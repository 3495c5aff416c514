/**
 * The refresh lease as one object: acquired with a conditional write that also records the vault version
 * its holder may write (the pending version), the fence every write under it carries, the commit that
 * releases it in the same write, and the release. One refresh at a time per profile, everywhere
 * (docs/design.md); a holder whose lease expired can write nothing.
 */
import { errorFields, type Log } from '../logger.js';
import { ConditionFailedError, type Clock, type LeaseFence, type ProfileStore, type StatusUpdate } from '../ports.js';
import type { ProfileRecord } from '../profile.js';
import { retry, type RetryOptions } from './retry.js';
import type { RefreshTiming } from './timing.js';

export interface LeaseDependencies {
  store: ProfileStore;
  clock: Clock;
  logger: Log;
  sleep: (ms: number) => Promise<void>;
  timing: RefreshTiming;
}

/** Throttling or a network error is worth another try; a failed condition (the lease is gone) is not. */
const transient = (error: unknown) => !(error instanceof ConditionFailedError);

export class Lease {
  readonly #deps: LeaseDependencies;
  readonly owner: string;
  #record: ProfileRecord;
  /** The version recorded as pending by this holder, while it is recorded. */
  #ownPending: string | undefined;
  #released = false;

  private constructor(deps: LeaseDependencies, owner: string, record: ProfileRecord, ownPending: string | undefined) {
    this.#deps = deps;
    this.owner = owner;
    this.#record = record;
    this.#ownPending = ownPending;
  }

  /**
   * Takes the profile's lease when it is free or expired, recording `pendingVersion` in the same write
   * unless a previous holder's is still recorded (then `record.pendingVersion` is theirs, to recover
   * first). `undefined` when another holder has it or the profile is gone.
   */
  static async acquire(deps: LeaseDependencies, profileId: string, owner: string, pendingVersion: string): Promise<Lease | undefined> {
    const record = await deps.store.acquireLease(profileId, owner, { now: deps.clock(), durationMs: deps.timing.leaseMs, pendingVersion });
    if (!record) return undefined;
    return new Lease(deps, owner, record, record.pendingVersion === pendingVersion ? pendingVersion : undefined);
  }

  /** The profile as the last write under this lease left it. */
  get record(): ProfileRecord {
    return this.#record;
  }

  get expiresAt(): number {
    return this.#record.lease?.expiresAt ?? this.#deps.clock() + this.#deps.timing.leaseMs;
  }

  /** The version this holder may write, when it is the one recorded as pending. */
  get pendingVersion(): string | undefined {
    return this.#ownPending;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Milliseconds until the lease (or the caller's `deadline`) ends. */
  timeLeft(deadline?: number): number {
    return Math.min(this.expiresAt, deadline ?? Infinity) - this.#deps.clock();
  }

  /** Writes under the lease are retried on throttling while the lease and the caller's time leave `attemptMs`. */
  #retries(deadline: number | undefined, attemptMs: number, failed: string): RetryOptions {
    const { logger, clock, sleep, timing } = this.#deps;
    return {
      attempts: timing.commitAttempts,
      firstPauseMs: timing.retryPauseMs,
      deadline: Math.min(this.expiresAt, deadline ?? Infinity),
      attemptMs,
      clock,
      sleep,
      retryable: transient,
      onFailure: (error, attempt) => logger.warn(failed, { profileId: this.#record.id, attempt, ...errorFields(error) }),
    };
  }

  #fence(then: 'keep' | 'release'): LeaseFence {
    return { owner: this.owner, then };
  }

  #took(record: ProfileRecord): ProfileRecord {
    this.#record = record;
    if (record.pendingVersion !== this.#ownPending) this.#ownPending = undefined;
    return record;
  }

  /** A write that keeps the lease; `undefined` when the lease was lost (nothing written). */
  async keep(update: StatusUpdate): Promise<ProfileRecord | undefined> {
    try {
      return this.#took(await this.#deps.store.updateStatus(this.#record.id, update, { now: this.#now(), fence: this.#fence('keep') }));
    } catch (error) {
      if (error instanceof ConditionFailedError) return undefined;
      throw error;
    }
  }

  /**
   * Records `version` as the one this holder is about to write (when acquiring could not: a previous
   * holder's was recorded). Throttling is retried within the deadline; `false` when the lease was lost.
   */
  async recordPending(version: string, deadline?: number): Promise<boolean> {
    const written = await retry(
      () => this.keep({ status: this.#record.status, pendingVersion: version }),
      this.#retries(deadline, this.#deps.timing.grantBudgetMs, 'pending version not recorded'),
    );
    if (written) this.#ownPending = version;
    return written !== undefined;
  }

  /**
   * Writes the outcome and releases the lease in the same write. Throttling or a network error is retried
   * while the lease and the caller's time allow; when it keeps failing the lease is released (best
   * effort) so that others need not wait for it to expire. `undefined` when nothing was committed.
   */
  async commit(update: StatusUpdate, deadline?: number): Promise<ProfileRecord | undefined> {
    try {
      const committed = await retry(
        () => this.#deps.store.updateStatus(this.#record.id, update, { now: this.#now(), fence: this.#fence('release') }),
        this.#retries(deadline, this.#deps.timing.awsCallMs, 'status commit failed'),
      );
      this.#released = true;
      return this.#took(committed);
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) await this.release();
      this.#released = true;
      return undefined;
    }
  }

  /**
   * Releases the lease (and the pending version this holder recorded but never wrote), best effort: it
   * expires by itself, so a failed release only delays the next refresh. Idempotent.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const { store, logger } = this.#deps;
    await store
      .releaseLease(this.#record.id, this.owner, this.#ownPending !== undefined ? { pendingVersion: this.#ownPending } : {})
      .catch((error: unknown) => logger.warn('lease release failed', { profileId: this.#record.id, ...errorFields(error) }));
  }

  /**
   * From the first vault write on, the pending version outlives the lease (the write may have landed
   * although it reported a failure): a release then removes the lease only.
   */
  keepPending(): void {
    this.#ownPending = undefined;
  }

  #now(): string {
    return new Date(this.#deps.clock()).toISOString();
  }
}
