/**
 * `errorResponse` logs at the level a person on call would want: a caller's mistake (4xx) at INFO, a
 * passing 503 at WARN, only the broker's own faults at ERROR (a mistyped issuer is not the broker's fault).
 */
import { describe, expect, it } from 'vitest';
import { BrokerError, invalidRequest, notFound, temporarilyUnavailable } from '../../lib/errors.js';
import { errorResponse } from '../../lib/http.js';
import { captureLogger } from './support/harness.js';

function levelsFor(error: unknown): { status: number; levels: string[]; lines: string[] } {
  const log = captureLogger();
  const result = errorResponse(error, log.logger);
  return { status: result.statusCode, levels: log.lines.map((line) => (JSON.parse(line) as { level: string }).level), lines: log.lines };
}

describe('log levels of error answers', () => {
  it.each([
    ['400 invalid_request', invalidRequest('The profile is invalid: clientId is required.', 'invalid_profile'), 400],
    ['404 not_found', notFound('Profile "erp" does not exist.'), 404],
    ['409 authorization_required', new BrokerError('authorization_required', 'Profile "erp" holds no grant.'), 409],
  ])('%s is INFO, with its code and reason only', (_name, error, status) => {
    const { status: answered, levels, lines } = levelsFor(error);
    expect(answered).toBe(status);
    expect(levels).toEqual(['info']);
    expect(lines[0]).toContain((error as BrokerError).code);
    expect(lines[0]).not.toContain((error as BrokerError).message);
  });

  it('503 temporarily_unavailable (an unreachable issuer) is WARN', () => {
    const { status, levels } = levelsFor(temporarilyUnavailable("The issuer's metadata could not be read from https://nonexistent.invalid; check the issuer URL or retry shortly.", 30));
    expect(status).toBe(503);
    expect(levels).toEqual(['warn']);
  });

  it('500 internal_error stays ERROR', () => {
    expect(levelsFor(new BrokerError('internal_error', 'The broker failed.')).levels).toEqual(['error']);
    expect(levelsFor(new Error('boom')).levels).toEqual(['error']);
  });
});
