/**
 * The status builders field by field: what a profile's status is after each event, as the refresher, the
 * callback and a PUT record it.
 */
import { describe, expect, it } from 'vitest';
import type { TokenSet } from '../../../lib/ports.js';
import type { ProfileRecord, ProfileStatus } from '../../../lib/profile.js';
import {
  NO_REFRESH_TOKEN_MESSAGE,
  TOKENS_STAGED_MESSAGE,
  TOKEN_UNWRITTEN_MESSAGE,
  adoptedStatus,
  authorizedStatus,
  editedStatus,
  failureEvent,
  newProfileStatus,
  refreshFailedStatus,
  refreshedStatus,
  stagedWriteFailedStatus,
  stagedWrittenStatus,
  tokensStagedStatus,
  unwrittenStatus,
  type Moment,
} from '../../../lib/lifecycle/transitions.js';
import { refreshPolicy } from '../../../lib/lifecycle/timing.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;
/** random 0.5: no jitter, so the first backoff is exactly 30 s. */
const at: Moment = { now: NOW, policy: refreshPolicy(), random: () => 0.5 };

const tokens = (overrides: Partial<TokenSet> = {}): TokenSet => ({
  accessToken: 'at',
  tokenType: 'Bearer',
  expiresAt: iso(NOW + 60 * MIN),
  refreshToken: 'rt',
  scope: null,
  obtainedAt: iso(NOW),
  ...overrides,
});

const earlier: ProfileStatus = {
  state: 'refresh_failing',
  accessTokenExpiresAt: iso(NOW + 5 * MIN),
  hasRefreshToken: true,
  lastRefreshAt: '2026-01-15T09:00:00.000Z',
  lastAuthorizedAt: '2026-01-15T08:00:00.000Z',
  lastError: { code: 'server_error', message: 'HTTP 502', at: '2026-01-15T09:55:00.000Z' },
  consecutiveFailures: 2,
  nextRefreshAt: '2026-01-15T09:59:00.000Z',
};

function record(status: Partial<ProfileStatus> = {}, extra: Partial<ProfileRecord> & { grantType?: 'authorization_code' | 'client_credentials' } = {}) {
  const { grantType = 'authorization_code', ...rest } = extra;
  return {
    config: { grantType } as ProfileRecord['config'],
    status: { ...earlier, ...status },
    tokenVersion: 'v1' as string | null,
    ...rest,
  };
}

describe('newProfileStatus', () => {
  it('holds nothing; only a client-credentials profile is due at once', () => {
    const status = newProfileStatus('authorization_code', iso(NOW));
    expect(status).toMatchObject({ state: 'authorization_required', hasRefreshToken: false, lastError: null, consecutiveFailures: 0 });
    for (const field of ['accessTokenExpiresAt', 'lastRefreshAt', 'lastAuthorizedAt', 'nextRefreshAt'] as const) expect(status[field], field).toBeNull();
    expect(newProfileStatus('client_credentials', iso(NOW)).nextRefreshAt).toBe(iso(NOW));
    expect(newProfileStatus('client_credentials').nextRefreshAt).toBeNull();
    expect(newProfileStatus().state).toBe('authorization_required');
  });
});

describe('authorizedStatus and refreshedStatus', () => {
  it('authorized: ready, failures cleared, lastAuthorizedAt now, lastRefreshAt kept, next refresh 10 min before expiry', () => {
    expect(authorizedStatus(record(), tokens(), at)).toEqual({
      state: 'ready',
      accessTokenExpiresAt: iso(NOW + 60 * MIN),
      hasRefreshToken: true,
      lastRefreshAt: earlier.lastRefreshAt,
      lastAuthorizedAt: iso(NOW),
      lastError: null,
      consecutiveFailures: 0,
      nextRefreshAt: iso(NOW + 50 * MIN),
    });
  });

  it('refreshed: lastRefreshAt now, lastAuthorizedAt kept', () => {
    const status = refreshedStatus(record(), tokens(), at);
    expect(status).toMatchObject({ state: 'ready', lastRefreshAt: iso(NOW), lastAuthorizedAt: earlier.lastAuthorizedAt, consecutiveFailures: 0, lastError: null });
  });

  it('without a refresh token an authorization_code profile is ready but never scheduled, and says how to fix it', () => {
    const status = authorizedStatus(record(), tokens({ refreshToken: null }), at);
    expect(status).toMatchObject({ state: 'ready', hasRefreshToken: false, nextRefreshAt: null });
    expect(status.lastError).toEqual({ code: 'no_refresh_token', message: NO_REFRESH_TOKEN_MESSAGE, at: iso(NOW) });
  });

  it('a client-credentials profile needs no refresh token to be scheduled', () => {
    const status = refreshedStatus(record({}, { grantType: 'client_credentials' }), tokens({ refreshToken: null }), at);
    expect(status).toMatchObject({ state: 'ready', hasRefreshToken: false, lastError: null, nextRefreshAt: iso(NOW + 50 * MIN) });
  });
});

describe('recovering sets', () => {
  it('adopting a lost commit: refreshed when the set was obtained', () => {
    const obtained = NOW - 2 * MIN;
    const status = adoptedStatus(record(), tokens({ obtainedAt: iso(obtained), expiresAt: iso(obtained + 60 * MIN) }), at);
    expect(status).toMatchObject({ state: 'ready', lastRefreshAt: iso(obtained), consecutiveFailures: 0, nextRefreshAt: iso(obtained + 50 * MIN) });
  });

  it('staged tokens written: ready, the last refresh time kept, no error even without a refresh token', () => {
    const status = stagedWrittenStatus(record(), tokens({ refreshToken: null }), at);
    expect(status).toMatchObject({ state: 'ready', lastRefreshAt: earlier.lastRefreshAt, lastError: null, consecutiveFailures: 0, nextRefreshAt: null });
  });

  it('tokens staged: ready with the new token, the vault failure recorded, retried after a backoff', () => {
    const { status, retryAfterSeconds } = tokensStagedStatus(record(), tokens(), at);
    expect(status).toMatchObject({
      state: 'ready',
      accessTokenExpiresAt: iso(NOW + 60 * MIN),
      lastRefreshAt: iso(NOW),
      consecutiveFailures: 3,
      lastError: { code: 'vault_write_failed', message: TOKENS_STAGED_MESSAGE, at: iso(NOW) },
      // Third failure in a row: 30 s × 2².
      nextRefreshAt: iso(NOW + 120_000),
    });
    expect(retryAfterSeconds).toBe(120);
  });

  it('staged tokens still unwritten: the state and lastError stay, the retry backs off; expired staged tokens → expired', () => {
    const valid = stagedWriteFailedStatus(record(), tokens(), at);
    expect(valid.status).toEqual({ ...earlier, consecutiveFailures: 3, nextRefreshAt: iso(NOW + 120_000) });
    expect(valid.retryAfterSeconds).toBe(120);
    const stale = stagedWriteFailedStatus(record(), tokens({ expiresAt: iso(NOW) }), at);
    expect(stale.status.state).toBe('expired');
  });
});

describe('failures', () => {
  it('passing with a valid held token: refresh_failing, backoff from the failure count, lastError the server\'s', () => {
    const { status, retryAfterSeconds } = refreshFailedStatus(
      record({ consecutiveFailures: 0, state: 'ready' }),
      { kind: 'passing', code: 'server_error', message: 'HTTP 503' },
      tokens(),
      at,
    );
    expect(status).toEqual({
      ...earlier,
      state: 'refresh_failing',
      lastError: { code: 'server_error', message: 'HTTP 503', at: iso(NOW) },
      consecutiveFailures: 1,
      nextRefreshAt: iso(NOW + 30_000),
    });
    expect(retryAfterSeconds).toBe(30);
  });

  it('passing honours a longer Retry-After; with no valid held token → expired', () => {
    const { status, retryAfterSeconds } = refreshFailedStatus(
      record({ consecutiveFailures: 0 }),
      { kind: 'passing', code: 'server_error', message: 'HTTP 429', retryAfterSeconds: 600 },
      undefined,
      at,
    );
    expect(status).toMatchObject({ state: 'expired', nextRefreshAt: iso(NOW + 600_000) });
    expect(retryAfterSeconds).toBe(600);
  });

  it('a rejected grant or client is not retried: nothing scheduled, no Retry-After', () => {
    for (const [kind, code, state] of [
      ['authorization_required', 'invalid_grant', 'authorization_required'],
      ['error', 'invalid_client', 'error'],
    ] as const) {
      const result = refreshFailedStatus(record(), { kind, code, message: code }, tokens(), at);
      expect(result.status).toMatchObject({ state, nextRefreshAt: null, consecutiveFailures: 3, lastError: { code } });
      expect(result.retryAfterSeconds).toBeUndefined();
    }
  });

  it('failureEvent maps the classifier\'s verdict, the grant type and the held token', () => {
    expect(failureEvent('authorization_required', 'authorization_code', true)).toBe('grant_rejected');
    expect(failureEvent('authorization_required', 'client_credentials', true)).toBe('client_rejected');
    expect(failureEvent('error', 'authorization_code', false)).toBe('client_rejected');
    expect(failureEvent('passing', 'authorization_code', true)).toBe('refresh_failed');
    expect(failureEvent('passing', 'client_credentials', false)).toBe('token_expired');
  });

  it('a new token the vault refused, with no refresh token to seal it under: failing (or expired), asked again after a backoff', () => {
    const failing = unwrittenStatus(record({ consecutiveFailures: 0, state: 'ready' }), tokens(), at);
    expect(failing.status).toMatchObject({
      state: 'refresh_failing',
      lastError: { code: 'vault_write_failed', message: TOKEN_UNWRITTEN_MESSAGE },
      consecutiveFailures: 1,
      nextRefreshAt: iso(NOW + 30_000),
    });
    expect(unwrittenStatus(record(), undefined, at).status.state).toBe('expired');
  });
});

describe('editedStatus', () => {
  const now = iso(NOW);

  it('keeps any status but error exactly as it is', () => {
    for (const state of ['ready', 'refresh_failing', 'expired', 'authorization_required'] as const) {
      const before = record({ state });
      expect(editedStatus(before, now)).toBe(before.status);
    }
  });

  it('gives a profile in error another chance: due now, failures and error cleared, state from the held token', () => {
    const edited = editedStatus(record({ state: 'error' }), now);
    expect(edited).toEqual({ ...earlier, state: 'ready', lastError: null, consecutiveFailures: 0, nextRefreshAt: now });
    expect(editedStatus(record({ state: 'error', accessTokenExpiresAt: iso(NOW - 1) }), now).state).toBe('expired');
    expect(editedStatus(record({ state: 'error', accessTokenExpiresAt: null }), now).state).toBe('expired');
  });

  it('without a token: authorization_required, and only a client-credentials profile is due', () => {
    expect(editedStatus(record({ state: 'error' }, { tokenVersion: null }), now)).toMatchObject({ state: 'authorization_required', nextRefreshAt: null });
    expect(editedStatus(record({ state: 'error' }, { tokenVersion: null, grantType: 'client_credentials' }), now)).toMatchObject({
      state: 'authorization_required',
      nextRefreshAt: now,
    });
  });
});
