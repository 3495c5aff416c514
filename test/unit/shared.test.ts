import { describe, expect, it } from 'vitest';
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS, isLoopbackUrl, parseRetryAfter } from '../../lib/shared.js';
import * as sdk from '../../lib/sdk/index.js';
import * as sdkErrors from '../../lib/sdk/errors.js';

const NOW = Date.parse('2026-11-28T10:00:00.000Z');

describe('isLoopbackUrl', () => {
  it.each(['http://127.0.0.1:8787', 'http://localhost/cb', 'http://[::1]:9000/x', new URL('https://localhost')])('is true for %s', (url) => {
    // Act / Assess
    expect(isLoopbackUrl(url)).toBe(true);
  });

  it.each(['https://as.example', 'http://127.0.0.2', 'http://localhost.example.com', 'http://[::2]'])('is false for %s', (url) => {
    // Act / Assess
    expect(isLoopbackUrl(url)).toBe(false);
  });
});

describe('parseRetryAfter (RFC 9110 §10.2.3), capped at an hour', () => {
  it.each<[string | null | undefined, number | undefined]>([
    ['120', 120],
    [' 7 ', 7],
    ['0', 0],
    [new Date(NOW + 90_500).toUTCString(), 90],
    [new Date(NOW - 60_000).toUTCString(), 0],
    ['3600', 3600],
    ['3601', 3600],
    ['99999999999', 3600],
    ['9'.repeat(400), 3600],
    [new Date(NOW + 10 * 24 * 3600_000).toUTCString(), 3600],
    ['-5', undefined],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
    [undefined, undefined],
  ])('reads %j as %j', (value, seconds) => {
    // Act / Assess
    expect(parseRetryAfter(value, NOW)).toBe(seconds);
  });
});

describe('one definition for server, SDK and CLI', () => {
  it('the minValiditySeconds bounds are docs/api.md\'s', () => {
    // Act / Assess
    expect([DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS]).toEqual([60, 3600]);
    expect([sdk.DEFAULT_MIN_VALIDITY_SECONDS, sdk.MAX_MIN_VALIDITY_SECONDS]).toEqual([60, 3600]);
  });

  it('the SDK and shared export the same helpers', () => {
    // Act / Assess
    expect(sdk.isLoopbackUrl).toBe(isLoopbackUrl);
    expect(sdkErrors.parseRetryAfter).toBe(parseRetryAfter);
  });
});
