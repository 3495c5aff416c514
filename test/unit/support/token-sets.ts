/**
 * The secret values the vault and codec tests store, distinctive enough to search for on disk, in errors
 * and in logs, and a token set holding them.
 */
import type { TokenSet } from '../../../lib/ports.js';

export const CLIENT_SECRET = 'cs-SUPER-SECRET-VALUE-4f1c9e';
export const ACCESS_TOKEN = 'at-SUPER-SECRET-ACCESS-8d2b7a';
export const REFRESH_TOKEN = 'rt-SUPER-SECRET-REFRESH-3e6f0c';

export function tokenSet(overrides: Partial<TokenSet> = {}): TokenSet {
  return {
    accessToken: ACCESS_TOKEN,
    tokenType: 'Bearer',
    expiresAt: '2026-11-28T11:00:00.000Z',
    refreshToken: REFRESH_TOKEN,
    scope: 'openid offline_access',
    obtainedAt: '2026-11-28T10:00:00.000Z',
    ...overrides,
  };
}
