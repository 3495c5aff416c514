/**
 * The refresh-timing policy: when a token is due, the keep-alive, backoff and the settings that tune them.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKOFF_CAP_MS,
  DEFAULT_REFRESH_POLICY,
  backoffMs,
  isDue,
  minimumRefreshGapMs,
  nextRefreshAt,
  readRefreshSettings,
  refreshPolicy,
  secondsUntilNextRefresh,
} from '../../../lib/lifecycle/timing.js';

const T = Date.parse('2026-01-15T10:00:00.000Z');
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const DAY = 24 * H;

describe('refreshPolicy', () => {
  it.each([
    ['defaults', {}, { intervalSeconds: 300, marginSeconds: 600, keepAliveSeconds: 86_400 }],
    ['a margin below two intervals is raised to two intervals', { intervalSeconds: 600 }, { intervalSeconds: 600, marginSeconds: 1200, keepAliveSeconds: 86_400 }],
    ['a larger margin is kept', { intervalSeconds: 60, marginSeconds: 900 }, { intervalSeconds: 60, marginSeconds: 900, keepAliveSeconds: 86_400 }],
    ['the keep-alive is taken as given', { keepAliveSeconds: 3600 }, { intervalSeconds: 300, marginSeconds: 600, keepAliveSeconds: 3600 }],
  ])('%s', (_, input, expected) => {
    expect(refreshPolicy(input)).toEqual(expected);
  });

  it('the defaults are the documented ones', () => {
    expect(DEFAULT_REFRESH_POLICY).toEqual({ intervalSeconds: 300, marginSeconds: 600, keepAliveSeconds: 86_400 });
  });
});

describe('nextRefreshAt', () => {
  const policy = refreshPolicy();
  it.each([
    ['1 h token: the 10 min margin wins over 10 % (6 min)', H, T + H - 10 * MIN],
    ['12 h token: 10 % of the lifetime (72 min) wins over the margin', 12 * H, T + 12 * H - 72 * MIN],
    ['24 h token: 10 % before expiry comes before the keep-alive', DAY, T + DAY - 144 * MIN],
    ['7-day token: the keep-alive (24 h after it was obtained) comes first', 7 * DAY, T + DAY],
    ['30-day token: never sooner than 10 % of its lifetime, even past the keep-alive', 30 * DAY, T + 3 * DAY],
    ['5 min token: due 30 s after it was obtained, never sooner', 5 * MIN, T + 30 * S],
    ['already expired: due 30 s after it was obtained, never sooner', -MIN, T + 30 * S],
  ])('%s', (_, lifetime, expected) => {
    expect(nextRefreshAt(T, T + lifetime, policy)).toBe(expected);
  });

  it('a shorter keep-alive brings an idle token forward', () => {
    expect(nextRefreshAt(T, T + 8 * H, refreshPolicy({ keepAliveSeconds: 3600 }))).toBe(T + H);
  });

  it('a longer margin refreshes earlier', () => {
    expect(nextRefreshAt(T, T + H, refreshPolicy({ marginSeconds: 1800 }))).toBe(T + 30 * MIN);
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 0.5, undefined, 30 * S],
    [2, 0.5, undefined, 60 * S],
    [3, 0.5, undefined, 120 * S],
    [0, 0.5, undefined, 30 * S],
    [1, 0, undefined, 24 * S],
    [1, 1, undefined, 36 * S],
    [7, 0.5, undefined, 1920 * S],
    [8, 0.5, undefined, BACKOFF_CAP_MS],
    [2000, 0.5, undefined, BACKOFF_CAP_MS],
    [1, 0.5, 120, 120 * S],
    [3, 0.5, 10, 120 * S],
  ])('failure %i, random %f, Retry-After %s → %i ms', (failures, random, retryAfter, expected) => {
    expect(backoffMs(failures, retryAfter, () => random)).toBeCloseTo(expected, 6);
  });

  it('jitter stays below the cap, and so does the longest Retry-After', () => {
    expect(backoffMs(12, undefined, () => 0)).toBeCloseTo(BACKOFF_CAP_MS * 0.8, 6);
    expect(backoffMs(12, undefined, () => 1)).toBe(BACKOFF_CAP_MS);
    expect(backoffMs(1, 99_999_999_999, () => 0.5)).toBe(BACKOFF_CAP_MS);
  });
});

describe('isDue and secondsUntilNextRefresh', () => {
  it.each([
    [null, false, undefined],
    [T - S, true, 1],
    [T, true, 1],
    [T + 1500, false, 2],
    [T + 300 * S, false, 300],
  ])('next refresh %s', (next, due, seconds) => {
    const status = { nextRefreshAt: next === null ? null : new Date(next).toISOString() };
    expect(isDue(status, T)).toBe(due);
    expect(secondsUntilNextRefresh(status, T)).toBe(seconds);
  });

  it('an unreadable time is nothing scheduled', () => {
    expect(secondsUntilNextRefresh({ nextRefreshAt: 'soon' }, T)).toBeUndefined();
  });
});

describe('readRefreshSettings', () => {
  it('reads each variable into its policy field; unset or empty is the default', () => {
    expect(readRefreshSettings({})).toEqual({ policy: {}, problems: [] });
    expect(readRefreshSettings({ BROKER_REFRESH_INTERVAL_SECONDS: '', BROKER_KEEP_ALIVE_SECONDS: '3600' })).toEqual({
      policy: { keepAliveSeconds: 3600 },
      problems: [],
    });
    expect(
      readRefreshSettings({ BROKER_REFRESH_INTERVAL_SECONDS: '60', BROKER_REFRESH_MARGIN_SECONDS: '900', BROKER_KEEP_ALIVE_SECONDS: '7200' }),
    ).toEqual({ policy: { intervalSeconds: 60, marginSeconds: 900, keepAliveSeconds: 7200 }, problems: [] });
  });

  it.each(['0', '-5', '1.5', 'ten', ' 60'])('refuses %j with a sentence naming the variable', (raw) => {
    const { policy, problems } = readRefreshSettings({ BROKER_REFRESH_MARGIN_SECONDS: raw });
    expect(policy).toEqual({});
    expect(problems).toEqual(['BROKER_REFRESH_MARGIN_SECONDS must be a positive whole number of seconds.']);
  });
});

describe('the bounds on refreshing', () => {
  it.each<[string, number, number]>([
    ['expires_in: 0', 0, 30],
    ['a 10 s token (scheduled as 60 s)', 10, 30],
    ['a 75 s token', 75, 30],
    ['a 10-minute token, shorter than the margin', 600, 60],
  ])('never schedules %s sooner than max(30 s, 10 %% of its lifetime) after it was obtained', (_, lifetime, gap) => {
    expect(nextRefreshAt(T, T + lifetime * S, DEFAULT_REFRESH_POLICY)).toBe(T + gap * S);
  });

  it('keeps short intervals (local mode) working: 60 s interval, 75 s token', () => {
    expect(nextRefreshAt(T, T + 75 * S, refreshPolicy({ intervalSeconds: 60 }))).toBe(T + 30 * S);
  });

  it.each<[number, number]>([
    [0, 30],
    [59, 30],
    [300, 30],
    [3600, 360],
    [86_400, 8640],
  ])('the minimum gap for a %i s lifetime is %i s', (lifetime, gap) => {
    expect(minimumRefreshGapMs(lifetime * S)).toBe(gap * S);
  });

  it('an infinite Retry-After is capped at an hour too', () => {
    expect(backoffMs(1, Number.POSITIVE_INFINITY, () => 0.5)).toBe(H);
  });
});
