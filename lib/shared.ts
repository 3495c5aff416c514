/**
 * Small helpers shared by the broker (server side) and its consumer SDK and CLI. Dependency-free: the SDK
 * is published on its own and the token Lambda's cold start pays for every import.
 */

/** docs/api.md `GET /profiles/{id}/token`: `minValiditySeconds` is 0..3600, default 60. */
export const DEFAULT_MIN_VALIDITY_SECONDS = 60;
export const MAX_MIN_VALIDITY_SECONDS = 3600;

/**
 * The answer to `GET /profiles/{id}/token` (docs/api.md "Tokens"), as sent on the wire: the broker builds
 * it, the SDK reads it. Never a refresh token or an id token.
 */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  /** ISO-8601. */
  expires_at: string;
  /** Seconds from the answer. */
  expires_in: number;
  scope: string;
}

/**
 * docs/api.md: every `Retry-After` the broker sends or honours is at most an hour. A server (or a broker)
 * asking for more is asked again after an hour: a typo or a hostile answer must not park a profile for
 * years (`Retry-After: 99999999999`), nor overflow a date.
 */
export const MAX_RETRY_AFTER_SECONDS = 3600;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Whether `url` names a loopback host (`127.0.0.1`, `localhost`, `[::1]`): where docs/api.md accepts `http:`
 * endpoint URLs, and where local mode listens unsigned.
 */
export function isLoopbackUrl(url: URL | string): boolean {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return LOOPBACK_HOSTS.has(parsed.hostname);
}

/**
 * A `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns whole seconds from
 * `now` (never negative, at most {@link MAX_RETRY_AFTER_SECONDS}), or `undefined` when the header is
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+$/.test(trimmed)) return Math.min(MAX_RETRY_AFTER_SECONDS, Number.parseInt(trimmed, 10));
  // An HTTP-date starts with the day's name (IMF-fixdate, RFC 850, asctime); `Date.parse` alone takes "-5".
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, Math.ceil((date - now) / 1000)));
}
