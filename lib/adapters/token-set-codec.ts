/**
 * How a `TokenSet` is stored by the vault adapters (Secrets Manager's `SecretString`, the file vault's sealed
 * plaintext): one JSON object of the `TokenSet` fields, written and read in one place.
 *
 * Both directions check the shape at run time, so the vault never stores what it could not read back and
 * never hands the broker a half-formed token set. Every failure is a {@link TokenSetCodecError} with a fixed
 * message and no `cause`: neither the content nor `JSON.parse`'s own message (which can quote the input) may
 * reach an error or a log.
 */
import type { TokenSet } from '../ports.js';

/** The one message of a stored token set that cannot be read. */
export const MALFORMED_TOKEN_SET = 'stored token set is malformed';

/** A token set that cannot be encoded or decoded. The message never contains any of its values. */
export class TokenSetCodecError extends Error {
  constructor(message: string = MALFORMED_TOKEN_SET) {
    super(message);
    this.name = 'TokenSetCodecError';
  }
}

/**
 * The text to store for `tokens`: only the `TokenSet` fields, in a fixed order (anything else the caller's
 * object carries, an id token say, is left out). Throws a {@link TokenSetCodecError} for a token set that
 * {@link decodeTokenSet} would refuse.
 */
export function encodeTokenSet(tokens: TokenSet): string {
  const projected = project(tokens);
  if (!projected) throw new TokenSetCodecError('token set to store is malformed');
  return JSON.stringify(projected);
}

/**
 * The token set stored as `text` (the output of {@link encodeTokenSet}). Unknown fields are ignored; a value
 * that is not JSON, not an object, or has a missing or mistyped field throws a {@link TokenSetCodecError}.
 */
export function decodeTokenSet(text: string): TokenSet {
  if (typeof text !== 'string') throw new TokenSetCodecError();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TokenSetCodecError();
  }
  const tokens = project(json);
  if (!tokens) throw new TokenSetCodecError();
  return tokens;
}

/**
 * Secrets Manager's bounds of a `ClientRequestToken` (which becomes the version id). The file vault checks
 * the same bounds, so a caller that works in local mode works in the cloud too.
 */
export const REQUEST_TOKEN_MIN_LENGTH = 32;
export const REQUEST_TOKEN_MAX_LENGTH = 64;

/** Throws a `RangeError` (without the value) unless `requestToken` is undefined or 32 to 64 characters. */
export function checkRequestToken(requestToken: string | undefined): void {
  if (requestToken === undefined) return;
  if (
    typeof requestToken !== 'string' ||
    requestToken.length < REQUEST_TOKEN_MIN_LENGTH ||
    requestToken.length > REQUEST_TOKEN_MAX_LENGTH
  ) {
    throw new RangeError(`a token set request token must be ${REQUEST_TOKEN_MIN_LENGTH} to ${REQUEST_TOKEN_MAX_LENGTH} characters long`);
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isTimestamp = (v: unknown): v is string => typeof v === 'string' && v !== '' && Number.isFinite(Date.parse(v));

/**
 * The fields of a valid token set (own properties only), or `undefined`: the six always there, and the
 * revocation endpoint when it was recorded (sets stored before it was have none, and keep having none).
 */
function project(value: unknown): TokenSet | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const field = (name: keyof TokenSet): unknown => (Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined);
  const accessToken = field('accessToken');
  const tokenType = field('tokenType');
  const expiresAt = field('expiresAt');
  const refreshToken = field('refreshToken');
  const scope = field('scope');
  const obtainedAt = field('obtainedAt');
  const revocationEndpoint = field('revocationEndpoint');
  if (revocationEndpoint !== undefined && !isNullableString(revocationEndpoint)) return undefined;
  if (
    !isString(accessToken) ||
    accessToken === '' ||
    !isString(tokenType) ||
    tokenType === '' ||
    !isTimestamp(expiresAt) ||
    !isNullableString(refreshToken) ||
    !isNullableString(scope) ||
    !isTimestamp(obtainedAt)
  ) {
    return undefined;
  }
  return { accessToken, tokenType, expiresAt, refreshToken, scope, obtainedAt, ...(revocationEndpoint !== undefined ? { revocationEndpoint } : {}) };
}
