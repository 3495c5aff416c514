/**
 * The status machine as data: every cell of the state × event table, checked against the written-out
 * expectation below and against the status each builder actually produces from each state.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthFailure } from '../../../lib/oauth.js';
import type { TokenSet } from '../../../lib/ports.js';
import { PROFILE_STATES, type GrantType, type ProfileRecord, type ProfileState, type ProfileStatus } from '../../../lib/profile.js';
import { INITIAL_STATE, LIFECYCLE_EVENTS, STATE_MEANINGS, TRANSITIONS, nextState, type LifecycleEvent, type NextState } from '../../../lib/lifecycle/states.js';
import * as build from '../../../lib/lifecycle/transitions.js';
import { refreshPolicy } from '../../../lib/lifecycle/timing.js';
import { profileConfig } from '../../support/profile-config.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const at: build.Moment = { now: NOW, policy: refreshPolicy(), random: () => 0.5 };
const AR = 'authorization_required';

/** The table as the contract describes it, one line per event: [from authorization_required, ready, refresh_failing, expired, error]. */
const EXPECTED: Record<LifecycleEvent, [NextState, NextState, NextState, NextState, NextState]> = {
  authorized: ['ready', 'ready', 'ready', 'ready', 'ready'],
  refreshed: ['ready', 'ready', 'ready', 'ready', 'ready'],
  pending_adopted: ['ready', 'ready', 'ready', 'ready', 'ready'],
  staged_written: ['ready', 'ready', 'ready', 'ready', 'ready'],
  tokens_staged: ['ready', 'ready', 'ready', 'ready', 'ready'],
  refresh_failed: ['refresh_failing', 'refresh_failing', 'refresh_failing', 'refresh_failing', 'refresh_failing'],
  token_expired: ['expired', 'expired', 'expired', 'expired', 'expired'],
  grant_rejected: [AR, AR, AR, AR, AR],
  client_rejected: ['error', 'error', 'error', 'error', 'error'],
  staged_write_failed: [AR, 'ready', 'refresh_failing', 'expired', 'error'],
  staged_expired: ['expired', 'expired', 'expired', 'expired', 'expired'],
  authorization_failed: [AR, 'ready', 'refresh_failing', 'expired', 'error'],
  edited: [AR, 'ready', 'refresh_failing', 'expired', 'ready'],
  edited_token_expired: [AR, 'ready', 'refresh_failing', 'expired', 'expired'],
  edited_no_token: [AR, 'ready', 'refresh_failing', 'expired', AR],
  edited_discarding_tokens: [AR, AR, AR, AR, AR],
  deleted: ['gone', 'gone', 'gone', 'gone', 'gone'],
};

const COLUMNS: ProfileState[] = ['authorization_required', 'ready', 'refresh_failing', 'expired', 'error'];

function tokens(overrides: Partial<TokenSet> = {}): TokenSet {
  return {
    accessToken: 'at',
    tokenType: 'Bearer',
    expiresAt: new Date(NOW + 3600_000).toISOString(),
    refreshToken: 'rt',
    scope: null,
    obtainedAt: new Date(NOW).toISOString(),
    ...overrides,
  };
}
const expiredTokens = () => tokens({ expiresAt: new Date(NOW - 1000).toISOString(), obtainedAt: new Date(NOW - 3600_000).toISOString() });

function recordIn(state: ProfileState, options: { grantType?: GrantType; tokenVersion?: string | null; expiresAt?: number } = {}): ProfileRecord {
  const status: ProfileStatus = {
    state,
    accessTokenExpiresAt: new Date(options.expiresAt ?? NOW + 1800_000).toISOString(),
    hasRefreshToken: true,
    lastRefreshAt: '2026-01-15T09:00:00.000Z',
    lastAuthorizedAt: '2026-01-15T08:00:00.000Z',
    lastError: state === 'ready' ? null : { code: 'earlier', message: 'An earlier failure.', at: '2026-01-15T09:30:00.000Z' },
    consecutiveFailures: state === 'ready' ? 0 : 2,
    nextRefreshAt: '2026-01-15T10:30:00.000Z',
  };
  return {
    id: 'p',
    config: profileConfig({ grantType: options.grantType ?? 'authorization_code' }),
    hasClientSecret: true,
    status,
    tokenVersion: options.tokenVersion === undefined ? 'v1' : options.tokenVersion,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    revision: 3,
    lease: null,
    stagedTokens: null,
  };
}

const failure = (kind: OAuthFailure['kind'], code: string) => ({ kind, code, message: `failed: ${code}` });

/** Each event, as its builder applies it to a profile in `from`. `deleted` has no status. */
const BUILDERS: Record<Exclude<LifecycleEvent, 'deleted'>, (from: ProfileState) => ProfileStatus> = {
  authorized: (from) => build.authorizedStatus(recordIn(from), tokens(), at),
  refreshed: (from) => build.refreshedStatus(recordIn(from), tokens(), at),
  pending_adopted: (from) => build.adoptedStatus(recordIn(from), tokens(), at),
  staged_written: (from) => build.stagedWrittenStatus(recordIn(from), tokens(), at),
  tokens_staged: (from) => build.tokensStagedStatus(recordIn(from), tokens(), at).status,
  refresh_failed: (from) => build.refreshFailedStatus(recordIn(from), failure('passing', 'server_error'), tokens(), at).status,
  token_expired: (from) => build.refreshFailedStatus(recordIn(from), failure('passing', 'network_error'), expiredTokens(), at).status,
  grant_rejected: (from) => build.refreshFailedStatus(recordIn(from), failure('authorization_required', 'invalid_grant'), tokens(), at).status,
  client_rejected: (from) => build.refreshFailedStatus(recordIn(from), failure('error', 'invalid_client'), tokens(), at).status,
  staged_write_failed: (from) => build.stagedWriteFailedStatus(recordIn(from), tokens(), at).status,
  staged_expired: (from) => build.stagedWriteFailedStatus(recordIn(from), expiredTokens(), at).status,
  authorization_failed: (from) => build.authorizationFailedStatus(recordIn(from), 'access_denied', 'Denied.', NOW),
  edited: (from) => build.editedStatus(recordIn(from), new Date(NOW).toISOString()),
  edited_token_expired: (from) => build.editedStatus(recordIn(from, { expiresAt: NOW - 1 }), new Date(NOW).toISOString()),
  edited_no_token: (from) => build.editedStatus(recordIn(from, { tokenVersion: null }), new Date(NOW).toISOString()),
  edited_discarding_tokens: () => build.newProfileStatus('authorization_code'),
};

/** Events that more than one builder records: a vault that refused a token set without a refresh token fails like the server. */
const ALSO: Partial<Record<LifecycleEvent, (from: ProfileState) => ProfileStatus>> = {
  refresh_failed: (from) => build.unwrittenStatus(recordIn(from), tokens(), at).status,
  token_expired: (from) => build.unwrittenStatus(recordIn(from), expiredTokens(), at).status,
};

describe('the state table', () => {
  it('has a meaning for every state, a description for every event and a next state for every pair', () => {
    expect(Object.keys(STATE_MEANINGS).sort()).toEqual([...PROFILE_STATES].sort());
    expect(Object.keys(TRANSITIONS).sort()).toEqual(Object.keys(LIFECYCLE_EVENTS).sort());
    for (const event of Object.keys(TRANSITIONS) as LifecycleEvent[]) {
      expect(Object.keys(TRANSITIONS[event]).sort(), event).toEqual([...PROFILE_STATES].sort());
    }
    expect(INITIAL_STATE).toBe('authorization_required');
  });

  describe.each(Object.entries(EXPECTED) as Array<[LifecycleEvent, NextState[]]>)('%s', (event, row) => {
    it.each(COLUMNS.map((from, i) => [from, row[i]!] as const))('from %s → %s', (from, to) => {
      expect(nextState(from, event)).toBe(to);
      if (event !== 'deleted') expect(BUILDERS[event](from).state).toBe(to);
      if (ALSO[event]) expect(ALSO[event](from).state).toBe(to);
    });
  });

  it('only a deletion makes a profile gone, and no passing failure asks a person to act', () => {
    for (const [event, row] of Object.entries(TRANSITIONS)) {
      expect(Object.values(row).includes('gone'), event).toBe(event === 'deleted');
    }
    for (const event of ['refresh_failed', 'token_expired', 'staged_expired'] as const) {
      for (const from of ['ready', 'refresh_failing', 'expired'] as const) expect(nextState(from, event)).not.toBe(AR);
    }
  });

  it('an invalid_grant on a client-credentials profile is the client being rejected: error, not authorization_required', () => {
    const record = recordIn('ready', { grantType: 'client_credentials' });
    expect(build.refreshFailedStatus(record, failure('authorization_required', 'invalid_grant'), tokens(), at).status.state).toBe('error');
  });
});
