import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../lib/refresh.js';
import { DEFAULT_REFRESH_POLICY, minimumRefreshGapMs, nextRefreshAt, refreshPolicy } from '../../lib/schedule.js';

const T0 = Date.parse('2026-01-15T10:00:00.000Z');
const s = (seconds: number) => seconds * 1000;

describe('nextRefreshAt', () => {
  it('refreshes a one-hour token 10 minutes before it expires (the margin)', () => {
    expect(nextRefreshAt(T0, T0 + s(3600), DEFAULT_REFRESH_POLICY)).toBe(T0 + s(3000));
  });

  it('refreshes a long-lived token at the keep-alive deadline', () => {
    expect(nextRefreshAt(T0, T0 + s(7 * 86_400), DEFAULT_REFRESH_POLICY)).toBe(T0 + s(86_400));
  });

  it.each<[string, number, number]>([
    ['expires_in: 0', 0, 30],
    ['a 10 s token (scheduled as 60 s)', 10, 30],
    ['a 75 s token', 75, 30],
    ['a 10-minute token, shorter than the margin', 600, 60],
  ])('never schedules %s sooner than max(30 s, 10 %% of its lifetime) after it was obtained', (_, lifetime, gap) => {
    // Act
    const next = nextRefreshAt(T0, T0 + s(lifetime), DEFAULT_REFRESH_POLICY);

    // Assess
    expect(next).toBe(T0 + s(gap));
  });

  it('keeps short intervals (local mode) working: 60 s interval, 75 s token', () => {
    expect(nextRefreshAt(T0, T0 + s(75), refreshPolicy({ intervalSeconds: 60 }))).toBe(T0 + s(30));
  });
});

describe('minimumRefreshGapMs', () => {
  it.each<[number, number]>([
    [0, 30],
    [59, 30],
    [300, 30],
    [3600, 360],
    [86_400, 8640],
  ])('for a %i s lifetime is %i s', (lifetime, gap) => {
    expect(minimumRefreshGapMs(s(lifetime))).toBe(s(gap));
  });
});

describe('backoffMs', () => {
  it('doubles from 30 s and stops at an hour, jitter included', () => {
    expect(backoffMs(1, undefined, () => 0.5)).toBe(s(30));
    expect(backoffMs(2, undefined, () => 0.5)).toBe(s(60));
    expect(backoffMs(20, undefined, () => 1)).toBe(s(3600));
  });

  it('honours Retry-After up to an hour, never more', () => {
    expect(backoffMs(1, 600, () => 0.5)).toBe(s(600));
    expect(backoffMs(1, 99_999_999_999, () => 0.5)).toBe(s(3600));
    expect(backoffMs(1, Number.POSITIVE_INFINITY, () => 0.5)).toBe(s(3600));
  });
});
