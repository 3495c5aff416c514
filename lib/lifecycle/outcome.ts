/**
 * What one refresh attempt ended in, as a discriminated union: each outcome carries exactly the fields
 * that mean something for it (a token to serve, when to ask again, the server's failure), so callers
 * switch on `outcome` instead of decoding optional fields.
 */
import type { OAuthFailure } from '../oauth.js';
import type { TokenSet } from '../ports.js';
import type { ProfileRecord } from '../profile.js';

interface About {
  /** The profile as the attempt left it. */
  record: ProfileRecord;
  /** A token set worth serving, when one was read or obtained. */
  tokens?: TokenSet;
  /** The vault version of `tokens`, when the profile points at exactly that version. */
  tokensVersion?: string;
}

/** A token is held that the caller may serve. */
export interface Served extends About {
  outcome:
    | 'refreshed' // new tokens obtained and committed (or obtained but their commit lost: then without a version)
    | 'not_needed' // the held token satisfies the trigger
    | 'served_by_other' // another holder refreshed while this caller waited
    | 'reconciled'; // staged tokens written; the scheduled refresh itself not due yet
}

/** Nothing was asked of the server now; ask again after `retryAfterSeconds` (when known). */
export interface Deferred extends About {
  outcome:
    | 'lease_busy' // another holder has the lease
    | 'no_time' // a grant could not finish within the lease or the caller's time
    | 'backing_off' // a failing profile's next attempt is not due
    | 'throttled'; // a token request came too soon after the last grant: the held token is served
  retryAfterSeconds?: number;
}

/** The attempt failed for a passing reason (the server, or the vault); retried after a backoff. */
export interface Failing extends About {
  outcome: 'failing';
  retryAfterSeconds?: number;
  /** The server's failure; absent when the vault or the store failed. */
  failure?: OAuthFailure;
}

/** Nothing can be refreshed until a person acts. */
export interface Refused extends About {
  outcome:
    | 'no_grant' // no grant, or no refresh token to refresh with
    | 'authorization_required' // the grant is gone
    | 'error'; // the client was rejected
  /** Present when the server said so during this attempt; absent when the status already said it. */
  failure?: OAuthFailure;
}

/** The profile was deleted (or is being deleted). */
export interface Gone {
  outcome: 'profile_gone';
}

export type RefreshResult = Served | Deferred | Failing | Refused | Gone;
export type RefreshOutcome = RefreshResult['outcome'];

/** When the caller should ask again, for the outcomes that say. */
export function retryAfterOf(result: RefreshResult): number | undefined {
  return result.outcome === 'lease_busy' ||
    result.outcome === 'no_time' ||
    result.outcome === 'backing_off' ||
    result.outcome === 'throttled' ||
    result.outcome === 'failing'
    ? result.retryAfterSeconds
    : undefined;
}

/** The server's failure behind this outcome, if this attempt met one. */
export function failureOf(result: RefreshResult): OAuthFailure | undefined {
  return 'failure' in result ? result.failure : undefined;
}
