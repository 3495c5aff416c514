/**
 * The one error classifier (docs/design.md "Errors are classified once"): what any OAuth failure means for
 * a profile (a person must act, the client is broken, or it passes), with what a server says redacted.
 */
import * as oauth from 'oauth4webapi';
import { parseRetryAfter } from '../shared.js';
import { formUrlEncode } from './client-auth.js';
import { MAX_RESPONSE_BYTES, ResponseTooLargeError } from './requests.js';

/**
 * What a failure means for the profile:
 * - `authorization_required`: the grant is gone (`invalid_grant`); a person must authorize again;
 * - `error`: the client itself was rejected (`invalid_client`, `unauthorized_client`), the request was
 *   refused (another OAuth error, or a 3xx/4xx without one: a wrong URL, a WAF) or the profile is
 *   misconfigured; retrying cannot help;
 * - `passing`: network, 5xx, 408, 429 or a malformed 200 answer; back off and retry.
 */
export type FailureKind = 'authorization_required' | 'error' | 'passing';

export class OAuthFailure extends Error {
  constructor(
    /**
     * The server's OAuth error code (only ever one of RFC 6749 §5.2's syntax, see `isOAuthErrorCode`), or
     * `network_error`, `server_error`, `invalid_response`, `invalid_configuration`.
     */
    readonly code: string,
    readonly kind: FailureKind,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'OAuthFailure';
  }
}

const MAX_DESCRIPTION = 200;

const CONFIGURATION_ERRORS = new Set<string>([
  oauth.MISSING_SERVER_METADATA,
  oauth.INVALID_SERVER_METADATA,
  oauth.HTTP_REQUEST_FORBIDDEN,
  oauth.REQUEST_PROTOCOL_FORBIDDEN,
]);

/**
 * Whether `code` may be taken as an OAuth error code. RFC 6749 §5.2 allows %x20-21 / %x23-5B / %x5D-7E;
 * the code also goes into `lastError.code`, messages, events and a metric dimension, so it must moreover
 * be 1 to 64 letters, digits, `_`, `.` or `-`. Anything else is not trusted as an error code.
 */
export function isOAuthErrorCode(code: unknown): code is string {
  return typeof code === 'string' && /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(code) && /^[a-z0-9_.-]{1,64}$/i.test(code);
}

/**
 * Maps anything a token-endpoint call can throw to an `OAuthFailure`. `secrets` are the values that were
 * sent; they (and their URL encodings) are cut out of any text the server echoed before it reaches a message.
 */
export function classifyOAuthError(error: unknown, secrets: ReadonlyArray<string | null | undefined> = []): OAuthFailure {
  if (error instanceof OAuthFailure) return error;
  if (causes(error).some((cause) => cause instanceof ResponseTooLargeError)) {
    return new OAuthFailure('invalid_response', 'passing', `The authorization server's answer is larger than ${MAX_RESPONSE_BYTES / 1024} KiB; it was refused.`);
  }
  if (causes(error).some(isTimeout)) {
    return new OAuthFailure('network_error', 'passing', 'The authorization server did not answer in time.');
  }
  const clean = (text: string | undefined) => (text ? redact(text, secrets).replace(/\p{Cc}/gu, ' ').slice(0, MAX_DESCRIPTION) : undefined);

  if (error instanceof oauth.ResponseBodyError) {
    const retryAfter = retryAfterOf(error.response);
    if (!isOAuthErrorCode(error.error)) return fromHttpStatus(error.status, retryAfter, 'an error code that is not an OAuth error code');
    return fromOAuthErrorCode(error.error, clean(error.error_description), error.status, retryAfter);
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    const claimed = challenge?.parameters.error;
    const code = isOAuthErrorCode(claimed) ? claimed : 'invalid_client';
    return fromOAuthErrorCode(code, clean(challenge?.parameters.error_description), error.status, retryAfterOf(error.response));
  }
  if (error instanceof oauth.OperationProcessingError && CONFIGURATION_ERRORS.has(error.code ?? '')) {
    // Nothing was sent: the metadata or the endpoint URL is unusable. Retrying cannot help.
    return new OAuthFailure(
      'invalid_configuration',
      'error',
      'The authorization server\'s endpoints are missing or not usable (https: is required except on loopback): check the profile\'s URLs or issuer.',
    );
  }
  if (error instanceof oauth.OperationProcessingError) {
    const cause: unknown = error.cause;
    const notJson = error.code === oauth.RESPONSE_IS_NOT_JSON || error.code === oauth.PARSE_ERROR;
    if (notJson && !(cause instanceof Response && cause.status >= 300)) {
      // An HTML sign-in page, a proxy's banner: nothing of it is repeated, whatever it says.
      return new OAuthFailure('invalid_response', 'passing', 'The token endpoint did not answer with JSON.');
    }
    if (cause instanceof Response) {
      return fromHttpStatus(cause.status, retryAfterOf(cause));
    }
    // A 200 whose body is an OAuth error (seen in the wild): classify by its code.
    const body = (cause as { body?: { error?: unknown; error_description?: unknown } } | undefined)?.body;
    if (body && typeof body.error === 'string') {
      if (!isOAuthErrorCode(body.error)) {
        return new OAuthFailure('invalid_response', 'passing', 'The token endpoint answered HTTP 200 with an "error" that is not an OAuth error code.');
      }
      return fromOAuthErrorCode(body.error, clean(typeof body.error_description === 'string' ? body.error_description : undefined), 200);
    }
    if (error.code === oauth.RESPONSE_IS_NOT_JSON || error.code === oauth.PARSE_ERROR) {
      return new OAuthFailure('invalid_response', 'passing', 'The token endpoint did not answer with JSON.');
    }
    return new OAuthFailure('invalid_response', 'passing', `The token endpoint's answer is not a valid token response (${describeProcessingError(error)}).`);
  }
  if (error instanceof oauth.UnsupportedOperationError) {
    return new OAuthFailure('invalid_response', 'passing', 'The token endpoint returned a token type other than Bearer or DPoP.');
  }
  if (isTimeout(error)) {
    return new OAuthFailure('network_error', 'passing', 'The authorization server did not answer in time.');
  }
  if (error instanceof TypeError) {
    // fetch() failures: connection refused, DNS, TLS.
    return new OAuthFailure('network_error', 'passing', 'The authorization server could not be reached.');
  }
  return new OAuthFailure('server_error', 'passing', 'The request to the authorization server failed unexpectedly.');
}

function describeProcessingError(error: oauth.OperationProcessingError): string {
  // oauth4webapi's messages name properties, never values; keep only the quoted property name.
  const property = /"response" body "([a-z_]+)" property/.exec(error.message)?.[1];
  return property ? `"${property}" is missing or invalid` : 'unexpected content';
}

/** `code` has passed `isOAuthErrorCode`. */
function fromOAuthErrorCode(code: string, description: string | undefined, status: number, retryAfterSeconds?: number): OAuthFailure {
  const detail = description ? `: ${description}` : '';
  if (status === 429 || status >= 500) {
    const failure = fromHttpStatus(status, retryAfterSeconds);
    return new OAuthFailure(code, 'passing', `${failure.message.replace(/\.$/, '')} (${code}${detail}).`, retryAfterSeconds, status);
  }
  if (code === 'temporarily_unavailable' || code === 'slow_down' || code === 'server_error') {
    return new OAuthFailure(code, 'passing', `The authorization server reported a temporary problem (${code}${detail}, HTTP ${status}).`, retryAfterSeconds, status);
  }
  switch (code) {
    case 'invalid_grant':
      return new OAuthFailure(code, 'authorization_required', `The authorization server no longer accepts the grant (invalid_grant${detail}): authorize the profile again.`, undefined, status);
    case 'invalid_client':
    case 'unauthorized_client':
      return new OAuthFailure(code, 'error', `The authorization server rejected the client (${code}${detail}): check clientId, clientSecret and clientAuthMethod.`, undefined, status);
    default:
      return new OAuthFailure(code, 'error', `The authorization server refused the request (${code}${detail}).`, undefined, status);
  }
}

/**
 * An answer that carries no (usable) OAuth error. docs/design.md: only network, 5xx and 429 are passing (and
 * 408, the server's own timeout); any other 3xx or 4xx means the request went to the wrong place or was
 * refused before the authorization server saw it (a wrong tokenUrl, a WAF, a proxy): retrying cannot help.
 * A 2xx that is not a token response stays a passing `invalid_response`.
 */
function fromHttpStatus(status: number, retryAfterSeconds: number | undefined, what = 'no OAuth error'): OAuthFailure {
  if (status === 429) {
    return new OAuthFailure('server_error', 'passing', 'The authorization server is rate limiting requests (HTTP 429).', retryAfterSeconds, status);
  }
  if (status >= 500) {
    return new OAuthFailure('server_error', 'passing', `The authorization server failed (HTTP ${status}).`, retryAfterSeconds, status);
  }
  if (status === 408) {
    return new OAuthFailure('server_error', 'passing', 'The authorization server timed out waiting for the request (HTTP 408).', retryAfterSeconds, status);
  }
  if (status >= 300) {
    return new OAuthFailure(
      'invalid_response',
      'error',
      `The token endpoint answered HTTP ${status} with ${what}: check the profile's tokenUrl (or issuer) and clientAuthMethod.`,
      undefined,
      status,
    );
  }
  return new OAuthFailure('invalid_response', 'passing', `The token endpoint answered HTTP ${status} with ${what}.`, retryAfterSeconds, status);
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date, from a response's `Retry-After`. */
export function retryAfterOf(response: Response | undefined, now: number = Date.now()): number | undefined {
  return parseRetryAfter(response?.headers.get('retry-after'), now);
}

/** `error` and its causes, outermost first (a few levels: oauth4webapi wraps what fetch threw). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 5; current = (current as { cause?: unknown } | null)?.cause) {
    chain.push(current);
    if (current === null || typeof current !== 'object') break;
  }
  return chain;
}

function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/**
 * `text` without any of `secrets`: each value as it is, percent-encoded (`encodeURIComponent`, either
 * case of hex digits) and form-encoded (spaces as `+`, as in a request body). Values shorter than 4
 * characters are left alone (they would cut ordinary words).
 */
export function redact(text: string, secrets: ReadonlyArray<string | null | undefined>): string {
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    variants.add(secret);
    variants.add(encodeURIComponent(secret));
    variants.add(new URLSearchParams({ v: secret }).toString().slice(2));
    variants.add(formUrlEncode(secret));
  }
  if (variants.size === 0) return text;
  const patterns = [...variants]
    .sort((a, b) => b.length - a.length)
    .map((variant) => variant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%([0-9A-F])([0-9A-F])/g, (_, a: string, b: string) => `%${hexDigit(a)}${hexDigit(b)}`));
  return text.replace(new RegExp(patterns.join('|'), 'g'), '[redacted]');
}

function hexDigit(digit: string): string {
  return /[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit;
}
