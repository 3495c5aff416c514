/**
 * What a refresh request may do with a profile, decided from its status alone: refused before anything
 * is read (no grant, a person must act, the client is broken), not needed, backing off, or a grant. The
 * refresher asks these under the lease, on the record it just re-read.
 */
import type { TokenSet } from '../ports.js';
import type { ProfileRecord, ProfileState, ProfileStatus } from '../profile.js';
import { isDue, refreshNotBefore } from './timing.js';

export type RefreshTrigger = 'schedule' | 'token_request' | 'admin';

export interface RefreshNeed {
  trigger: RefreshTrigger;
  /** For `token_request`: the held token must stay valid this long, else refresh. */
  minValiditySeconds?: number;
}

/** States in which nothing is refreshed automatically: a person must authorize, or fix the profile. */
export function isHardFailure(state: ProfileState): boolean {
  return state === 'authorization_required' || state === 'error';
}

/** A failing profile whose next attempt is not due yet. */
export function isBackingOff(status: ProfileStatus, now: number): boolean {
  return (status.state === 'refresh_failing' || status.state === 'expired') && !isDue(status, now);
}

/** Whether `tokens` stays valid for `minValiditySeconds` from `now`. */
export function satisfies(tokens: Pick<TokenSet, 'expiresAt'>, minValiditySeconds: number, now: number): boolean {
  return Date.parse(tokens.expiresAt) - now >= minValiditySeconds * 1000;
}

/**
 * Refusals decided before the held token set is read: an authorization_code profile without a grant, or
 * whose grant the server rejected, needs a person; a profile in `error` is refreshed only when a person
 * asks. `undefined`: go on.
 */
export function refusal(record: Pick<ProfileRecord, 'config' | 'status' | 'tokenVersion'>, trigger: RefreshTrigger): 'no_grant' | 'authorization_required' | 'error' | undefined {
  const authorizationCode = record.config.grantType === 'authorization_code';
  if (authorizationCode && record.tokenVersion === null) return 'no_grant';
  if (authorizationCode && record.status.state === 'authorization_required') return 'authorization_required';
  if (record.status.state === 'error' && trigger !== 'admin') return 'error';
  return undefined;
}

/** Whether the trigger's need for a new token holds, given the held one. */
export function needsRefresh(status: ProfileStatus, held: TokenSet, need: RefreshNeed, now: number): boolean {
  switch (need.trigger) {
    case 'admin':
      return true;
    case 'token_request':
      return !satisfies(held, need.minValiditySeconds ?? 0, now) && !isHardFailure(status.state);
    case 'schedule':
      return isDue(status, now);
  }
}

/**
 * With the held token set read: serve it, hold off a token request that comes too soon after the last
 * grant (docs/api.md "bounded refreshing": until `refreshNotBefore`), wait out the backoff (automatic
 * triggers only: a person asking is let through), refuse for want of a refresh token, or ask the token
 * endpoint.
 */
export function decide(
  record: Pick<ProfileRecord, 'config' | 'status' | 'lastGrantAt'>,
  held: TokenSet | undefined,
  need: RefreshNeed,
  now: number,
): 'not_needed' | 'too_soon' | 'backing_off' | 'no_grant' | 'grant' {
  if (need.trigger === 'token_request' && held && !satisfies(held, need.minValiditySeconds ?? 0, now) && now < refreshNotBefore(record, held)) {
    return 'too_soon';
  }
  if (held && !needsRefresh(record.status, held, need, now)) return 'not_needed';
  if (need.trigger !== 'admin' && isBackingOff(record.status, now)) return 'backing_off';
  if (record.config.grantType === 'authorization_code' && !held?.refreshToken) return 'no_grant';
  return 'grant';
}
