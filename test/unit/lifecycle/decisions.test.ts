/**
 * What a refresh request may do with a profile: the refusals before anything is read, and the decision
 * with the held token set (serve, back off, refuse, grant).
 */
import { describe, expect, it } from 'vitest';
import type { TokenSet } from '../../../lib/ports.js';
import type { ProfileRecord, ProfileState } from '../../../lib/profile.js';
import { decide, isBackingOff, refusal, type RefreshNeed } from '../../../lib/lifecycle/decisions.js';
import { newProfileStatus } from '../../../lib/lifecycle/transitions.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function record(state: ProfileState, options: { grantType?: 'authorization_code' | 'client_credentials'; tokenVersion?: string | null; next?: number | null } = {}) {
  return {
    config: { grantType: options.grantType ?? 'authorization_code' } as ProfileRecord['config'],
    tokenVersion: options.tokenVersion === undefined ? 'v1' : options.tokenVersion,
    status: { ...newProfileStatus(), state, hasRefreshToken: true, nextRefreshAt: options.next === null ? null : iso(options.next ?? NOW + 60_000) },
  };
}

const held = (validForMs: number, refreshToken: string | null = 'rt'): TokenSet => ({
  accessToken: 'at',
  tokenType: 'Bearer',
  expiresAt: iso(NOW + validForMs),
  refreshToken,
  scope: null,
  obtainedAt: iso(NOW - 60_000),
});

describe('refusal', () => {
  it.each([
    ['authorization_code without a grant', record('ready', { tokenVersion: null }), 'admin', 'no_grant'],
    ['authorization_code whose grant was rejected', record('authorization_required'), 'admin', 'authorization_required'],
    ['error, automatic trigger', record('error'), 'schedule', 'error'],
    ['error, token request', record('error'), 'token_request', 'error'],
    ['error, a person asks', record('error'), 'admin', undefined],
    ['client credentials without a token', record('authorization_required', { grantType: 'client_credentials', tokenVersion: null }), 'schedule', undefined],
    ['ready', record('ready'), 'schedule', undefined],
  ] as const)('%s → %s', (_, r, trigger, expected) => {
    expect(refusal(r, trigger)).toBe(expected);
  });
});

describe('decide', () => {
  const schedule: RefreshNeed = { trigger: 'schedule' };
  const token = (minValiditySeconds: number): RefreshNeed => ({ trigger: 'token_request', minValiditySeconds });
  const admin: RefreshNeed = { trigger: 'admin' };

  it.each([
    ['schedule, not due', record('ready'), held(3_600_000), schedule, 'not_needed'],
    ['schedule, due', record('ready', { next: NOW }), held(3_600_000), schedule, 'grant'],
    ['schedule, nothing scheduled', record('ready', { next: null }), held(3_600_000), schedule, 'not_needed'],
    ['token request, held token valid long enough', record('ready'), held(120_000), token(60), 'not_needed'],
    ['token request, held token too short', record('ready'), held(30_000), token(60), 'grant'],
    ['token request with minValidity 0 on a still-valid token', record('ready'), held(1), token(0), 'not_needed'],
    ['token request, failing and backing off', record('refresh_failing'), held(30_000), token(60), 'backing_off'],
    ['token request, expired and due again', record('expired', { next: NOW - 1 }), held(-1000), token(60), 'grant'],
    ['token request in error: never refreshed for a consumer', record('error'), held(30_000), token(60), 'not_needed'],
    ['admin: always, even while backing off', record('refresh_failing'), held(3_600_000), admin, 'grant'],
    ['no held set, backing off', record('expired'), undefined, schedule, 'backing_off'],
    ['no refresh token to refresh with', record('ready', { next: NOW }), held(-1, null), schedule, 'no_grant'],
    ['no held set at all', record('ready'), undefined, admin, 'no_grant'],
    ['client credentials need no refresh token', record('ready', { grantType: 'client_credentials', next: NOW }), held(-1, null), schedule, 'grant'],
    ['client credentials without a set', record('authorization_required', { grantType: 'client_credentials', next: NOW }), undefined, token(60), 'grant'],
  ] as const)('%s → %s', (_, r, tokens, need, expected) => {
    expect(decide(r, tokens, need, NOW)).toBe(expected);
  });
});

describe('isBackingOff', () => {
  it('only failing or expired profiles whose next attempt is not due', () => {
    expect(isBackingOff(record('refresh_failing').status, NOW)).toBe(true);
    expect(isBackingOff(record('expired').status, NOW)).toBe(true);
    expect(isBackingOff(record('expired', { next: NOW }).status, NOW)).toBe(false);
    expect(isBackingOff(record('expired', { next: null }).status, NOW)).toBe(true);
    expect(isBackingOff(record('ready').status, NOW)).toBe(false);
    expect(isBackingOff(record('error').status, NOW)).toBe(false);
  });
});
