/**
 * The per-instance token cache of the token endpoint: what it keeps of a token set (never a refresh
 * token), how long an entry is trusted without reading the profile again, and the answer built from it.
 * A warm token request is served from here with no AWS call (docs/design.md "Scale and cost").
 */

import type { TokenResponse } from './shared.js';

export type { TokenResponse };

/** The part of a token set the per-instance cache keeps: no refresh token. */
export interface CachedToken {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  /** `expiresAt` as the answer writes it, formatted once per entry rather than per request. */
  expiresAtIso: string;
  scope: string;
  version: string;
  /** When the profile was last read for this entry: the entry is trusted {@link TOKEN_CACHE_MS} from then. */
  checkedAt: number;
  obtainedAt: number;
  /** Before this moment a token request starts no refresh (`refreshNotBefore`); the held token is served. */
  refreshNotBefore: number;
}

/**
 * How long an instance serves a cached token without reading the profile again (docs/api.md): a deletion
 * or a token-discarding edit on another instance stops this one serving the old token within a minute.
 */
export const TOKEN_CACHE_MS = 60_000;

/** The cached entries by profile id. */
export class TokenCache {
  readonly #entries = new Map<string, CachedToken>();

  get(profileId: string): CachedToken | undefined {
    return this.#entries.get(profileId);
  }

  set(profileId: string, entry: CachedToken): CachedToken {
    this.#entries.set(profileId, entry);
    return entry;
  }

  delete(profileId: string): void {
    this.#entries.delete(profileId);
  }
}

/** Whether the cached `token` is still valid `minValiditySeconds` after `now`. */
export function staysValid(token: CachedToken, now: number, minValiditySeconds: number): boolean {
  return token.expiresAt - now >= minValiditySeconds * 1000;
}

/**
 * Whether `token` is to be served without a refresh: it is valid long enough, or it is still valid and a
 * refresh was started too recently to start another (docs/api.md "bounded refreshing").
 */
export function servable(token: CachedToken, now: number, minValiditySeconds: number): boolean {
  return staysValid(token, now, minValiditySeconds) || (token.expiresAt > now && now < token.refreshNotBefore);
}

export function tokenResponse(token: CachedToken, now: number): TokenResponse {
  return {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: token.expiresAtIso,
    expires_in: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
    scope: token.scope,
  };
}

