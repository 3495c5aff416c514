/**
 * The status builders: one pure function per lifecycle event, each building the whole `ProfileStatus` a
 * profile has after it. The next state always comes from the table in `states.ts`; time, the policy and
 * the randomness of backoff are passed in, so every builder is a function of its inputs.
 */
import type { FailureKind } from '../oauth.js';
import type { TokenSet } from '../ports.js';
import type { GrantType, LastError, ProfileRecord, ProfileStatus } from '../profile.js';
import { nextState, type LifecycleEvent } from './states.js';
import { backoffMs, nextRefreshAt, type RefreshPolicy } from './timing.js';

/** The moment a transition happens, and what it needs to schedule the next refresh. */
export interface Moment {
  now: number;
  policy: RefreshPolicy;
  /** For the backoff's jitter. */
  random: () => number;
}

/** A failure's status, and how long a caller should wait before asking again. */
export interface FailedTransition {
  status: ProfileStatus;
  retryAfterSeconds?: number;
}

/** A failure as the one classifier in lib/oauth reports it. */
export interface ClassifiedFailure {
  kind: FailureKind;
  code: string;
  message: string;
  retryAfterSeconds?: number | undefined;
}

export const NO_REFRESH_TOKEN_MESSAGE =
  'The authorization server issued no refresh token, so the token cannot be renewed without a person. Add "offline_access" to the profile\'s scope (some servers also need prompt=consent in authorizationParams) and authorize again.';
export const TOKENS_STAGED_MESSAGE =
  'New tokens were obtained but could not be written to the vault; they are kept and will be written on the next run.';
export const TOKEN_UNWRITTEN_MESSAGE = 'A new token was obtained but could not be written to the vault; it will be requested again.';

export function lastError(code: string, message: string, now: number): LastError {
  return { code, message, at: new Date(now).toISOString() };
}

/** Whether `tokens` is a token set whose access token is still valid at `now`. */
export function isValidAt(tokens: Pick<TokenSet, 'expiresAt'> | undefined, now: number): boolean {
  return tokens !== undefined && Date.parse(tokens.expiresAt) > now;
}

/** The event a failure stands for: the classifier's verdict, the grant type and the held token decide it. */
export function failureEvent(kind: FailureKind, grantType: GrantType, heldValid: boolean): LifecycleEvent & ('grant_rejected' | 'client_rejected' | 'refresh_failed' | 'token_expired') {
  switch (kind) {
    case 'authorization_required':
      // A client-credentials profile has no grant a person could renew: the client must be fixed.
      return grantType === 'client_credentials' ? 'client_rejected' : 'grant_rejected';
    case 'error':
      return 'client_rejected';
    case 'passing':
      return heldValid ? 'refresh_failed' : 'token_expired';
  }
}

/** The bookkeeping of one more failure in a row: its count, and when to try again (backoff, never sooner than `Retry-After`). */
function anotherFailure(status: ProfileStatus, at: Moment, retryAfterSeconds?: number): { consecutiveFailures: number; nextRefreshAt: string; retryAfterSeconds: number } {
  const consecutiveFailures = status.consecutiveFailures + 1;
  const delay = backoffMs(consecutiveFailures, retryAfterSeconds, at.random);
  return { consecutiveFailures, nextRefreshAt: new Date(at.now + delay).toISOString(), retryAfterSeconds: Math.ceil(delay / 1000) };
}

// -----------------------------------------------------------------------------------------------------
// New, edited, discarded
// -----------------------------------------------------------------------------------------------------

/**
 * The status of a new profile, or of one whose tokens were discarded. It holds no token yet; a
 * client-credentials profile is due at once, so the scheduler (or the first token request) obtains one.
 */
export function newProfileStatus(grantType: GrantType = 'authorization_code', now?: string): ProfileStatus {
  const nothingHeld = { accessTokenExpiresAt: null, hasRefreshToken: false, lastRefreshAt: null, lastAuthorizedAt: null, lastError: null };
  const nextRefreshAt = grantType === 'client_credentials' && now ? now : null;
  return { state: nextState('ready', 'edited_discarding_tokens'), ...nothingHeld, consecutiveFailures: 0, nextRefreshAt };
}

/** Which edit event a PUT that keeps the tokens of `record` is. */
export function editEvent(record: Pick<ProfileRecord, 'status' | 'tokenVersion'>, now: number): LifecycleEvent & ('edited' | 'edited_token_expired' | 'edited_no_token') {
  if (record.tokenVersion === null) return 'edited_no_token';
  const expiresAt = record.status.accessTokenExpiresAt ? Date.parse(record.status.accessTokenExpiresAt) : NaN;
  return expiresAt > now ? 'edited' : 'edited_token_expired';
}

/**
 * A PUT that keeps the tokens. A profile in `error` (the server rejected the client) is given another
 * chance at once: due now, failures cleared. Any other status is kept as it is.
 */
export function editedStatus(record: Pick<ProfileRecord, 'status' | 'tokenVersion' | 'config'>, now: string): ProfileStatus {
  const status = record.status;
  const state = nextState(status.state, editEvent(record, Date.parse(now)));
  if (state === status.state) return status;
  const due = record.config.grantType === 'client_credentials' || record.tokenVersion !== null;
  return { ...status, state, lastError: null, consecutiveFailures: 0, nextRefreshAt: due ? now : null };
}

// -----------------------------------------------------------------------------------------------------
// Tokens obtained
// -----------------------------------------------------------------------------------------------------

/** The status of a profile that holds `tokens`, fresh from `event`. */
function holding(
  record: Pick<ProfileRecord, 'status' | 'config'>,
  tokens: TokenSet,
  event: LifecycleEvent & ('authorized' | 'refreshed' | 'pending_adopted' | 'staged_written' | 'tokens_staged'),
  at: Pick<Moment, 'now' | 'policy'>,
): ProfileStatus {
  const nowIso = new Date(at.now).toISOString();
  const authorized = event === 'authorized';
  const canRefresh = tokens.refreshToken !== null || record.config.grantType === 'client_credentials';
  return {
    state: nextState(record.status.state, event),
    accessTokenExpiresAt: tokens.expiresAt,
    hasRefreshToken: tokens.refreshToken !== null,
    lastRefreshAt: authorized ? record.status.lastRefreshAt : nowIso,
    lastAuthorizedAt: authorized ? nowIso : record.status.lastAuthorizedAt,
    lastError: canRefresh ? null : lastError('no_refresh_token', NO_REFRESH_TOKEN_MESSAGE, at.now),
    consecutiveFailures: 0,
    nextRefreshAt: canRefresh ? new Date(nextRefreshAt(Date.parse(tokens.obtainedAt), Date.parse(tokens.expiresAt), at.policy)).toISOString() : null,
  };
}

/** A person authorized the profile and its tokens were stored. */
export function authorizedStatus(record: Pick<ProfileRecord, 'status' | 'config'>, tokens: TokenSet, at: Pick<Moment, 'now' | 'policy'>): ProfileStatus {
  return holding(record, tokens, 'authorized', at);
}

/** A refresh obtained `tokens` and they were stored (or were the same as the held ones). */
export function refreshedStatus(record: Pick<ProfileRecord, 'status' | 'config'>, tokens: TokenSet, at: Pick<Moment, 'now' | 'policy'>): ProfileStatus {
  return holding(record, tokens, 'refreshed', at);
}

/** The set a previous holder wrote but never committed is adopted: refreshed when it was obtained. */
export function adoptedStatus(record: Pick<ProfileRecord, 'status' | 'config'>, tokens: TokenSet, at: Pick<Moment, 'now' | 'policy'>): ProfileStatus {
  return { ...holding(record, tokens, 'pending_adopted', at), lastRefreshAt: new Date(Date.parse(tokens.obtainedAt)).toISOString() };
}

/** Staged tokens reached the vault: the refresh that obtained them is the last one, and nothing is wrong. */
export function stagedWrittenStatus(record: Pick<ProfileRecord, 'status' | 'config'>, tokens: TokenSet, at: Pick<Moment, 'now' | 'policy'>): ProfileStatus {
  return { ...holding(record, tokens, 'staged_written', at), lastRefreshAt: record.status.lastRefreshAt, lastError: null };
}

/** New tokens are held sealed in the store because the vault refused them: ready, and retried after a backoff. */
export function tokensStagedStatus(record: Pick<ProfileRecord, 'status' | 'config'>, tokens: TokenSet, at: Moment): FailedTransition {
  const { retryAfterSeconds, ...failed } = anotherFailure(record.status, at);
  const status = { ...holding(record, tokens, 'tokens_staged', at), lastError: lastError('vault_write_failed', TOKENS_STAGED_MESSAGE, at.now), ...failed };
  return { status, retryAfterSeconds };
}

/** A callback whose state matched failed: only `lastError` changes, so a person can see why. */
export function authorizationFailedStatus(record: Pick<ProfileRecord, 'status'>, code: string, message: string, now: number): ProfileStatus {
  return { ...record.status, state: nextState(record.status.state, 'authorization_failed'), lastError: lastError(code, message, now) };
}

// -----------------------------------------------------------------------------------------------------
// Failures
// -----------------------------------------------------------------------------------------------------

/**
 * A refresh failed. Passing failures back off (never sooner than the server's `Retry-After`) and keep
 * the refresh scheduled; a rejected grant or client stops refreshing until a person acts.
 */
export function refreshFailedStatus(
  record: Pick<ProfileRecord, 'status' | 'config'>,
  failure: ClassifiedFailure,
  held: TokenSet | undefined,
  at: Moment,
): FailedTransition {
  const event = failureEvent(failure.kind, record.config.grantType, isValidAt(held, at.now));
  const state = nextState(record.status.state, event);
  const error = lastError(failure.code, failure.message, at.now);
  if (failure.kind !== 'passing') {
    return { status: { ...record.status, state, lastError: error, consecutiveFailures: record.status.consecutiveFailures + 1, nextRefreshAt: null } };
  }
  const { retryAfterSeconds, ...failed } = anotherFailure(record.status, at, failure.retryAfterSeconds);
  return { status: { ...record.status, state, lastError: error, ...failed }, retryAfterSeconds };
}

/** New tokens without a refresh token to seal them under were refused by the vault: asked again after a backoff. */
export function unwrittenStatus(record: Pick<ProfileRecord, 'status' | 'config'>, held: TokenSet | undefined, at: Moment): FailedTransition {
  const { retryAfterSeconds, ...failed } = anotherFailure(record.status, at);
  const state = nextState(record.status.state, isValidAt(held, at.now) ? 'refresh_failed' : 'token_expired');
  return { status: { ...record.status, state, lastError: lastError('vault_write_failed', TOKEN_UNWRITTEN_MESSAGE, at.now), ...failed }, retryAfterSeconds };
}

/** The vault still refuses staged tokens: the state stays (unless they expired), the next try backs off. */
export function stagedWriteFailedStatus(record: Pick<ProfileRecord, 'status'>, staged: TokenSet, at: Moment): FailedTransition {
  const { retryAfterSeconds, ...failed } = anotherFailure(record.status, at);
  const state = nextState(record.status.state, isValidAt(staged, at.now) ? 'staged_write_failed' : 'staged_expired');
  return { status: { ...record.status, state, ...failed }, retryAfterSeconds };
}
