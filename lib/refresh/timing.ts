/**
 * The refresh path's one timing value: how long a lease lasts, how long a caller waits for another
 * holder, how many attempts each write gets, and the time a grant needs, derived from the OAuth timeout
 * and from the longest AWS call the clients' settings allow. No grant is started that could not be
 * followed by its vault write and its commit before the lease or the caller's time runs out.
 */
import { longestAwsCallMs } from '../aws-client-settings.js';

export interface RefreshTiming {
  /** How long a lease lasts; longer than one grant plus the writes after it. */
  leaseMs: number;
  /** How long a caller that lost the lease waits for the winner. */
  maxWaitMs: number;
  /** The timeout of one request to an authorization server. */
  oauthTimeoutMs: number;
  /** The longest one AWS call can take (every SDK attempt timing out). */
  awsCallMs: number;
  /** Attempts at writing a new token set before it is staged in the store instead. */
  vaultWriteAttempts: number;
  /** Attempts at each status write under the lease. */
  commitAttempts: number;
  /** The pause after a failed attempt (doubling). */
  retryPauseMs: number;
  /** A grant, then the vault write and the commit (or the staging write): the time that must be left to start one. */
  grantBudgetMs: number;
  /** What must be left after the grant: the vault write and the commit. */
  afterGrantMs: number;
}

export const DEFAULT_OAUTH_TIMEOUT_MS = 10_000;

export function refreshTiming(input: { leaseMs?: number; maxWaitMs?: number; oauthTimeoutMs?: number; awsCallMs?: number; vaultWriteAttempts?: number } = {}): RefreshTiming {
  const oauthTimeoutMs = input.oauthTimeoutMs ?? DEFAULT_OAUTH_TIMEOUT_MS;
  const awsCallMs = input.awsCallMs ?? longestAwsCallMs();
  const afterGrantMs = 2 * awsCallMs;
  return {
    leaseMs: input.leaseMs ?? 60_000,
    maxWaitMs: input.maxWaitMs ?? 10_000,
    oauthTimeoutMs,
    awsCallMs,
    vaultWriteAttempts: input.vaultWriteAttempts ?? 3,
    commitAttempts: 3,
    retryPauseMs: 200,
    grantBudgetMs: oauthTimeoutMs + afterGrantMs,
    afterGrantMs,
  };
}
