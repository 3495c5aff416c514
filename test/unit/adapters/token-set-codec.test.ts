import { describe, expect, it } from 'vitest';
import {
  checkRequestToken,
  decodeTokenSet,
  encodeTokenSet,
  MALFORMED_TOKEN_SET,
  TokenSetCodecError,
} from '../../../lib/adapters/token-set-codec.js';
import type { TokenSet } from '../../../lib/ports.js';
import { ACCESS_TOKEN, REFRESH_TOKEN, tokenSet } from '../support/token-sets.js';

function thrown(work: () => unknown): Error {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a throw');
}

function expectNoValueIn(error: Error, values: string[]): void {
  const text = `${error.name} ${error.message} ${String(error.stack)} ${JSON.stringify(error)}`;
  for (const value of values) expect(text.includes(value), 'a stored value leaked into an error').toBe(false);
}

describe('token set codec', () => {
  it('round-trips a token set, with and without the nullable fields', () => {
    // Prepare
    const full = tokenSet();
    const bare = tokenSet({ refreshToken: null, scope: null });

    // Act
    const decodedFull = decodeTokenSet(encodeTokenSet(full));
    const decodedBare = decodeTokenSet(encodeTokenSet(bare));

    // Assess
    expect(decodedFull).toStrictEqual(full);
    expect(decodedBare).toStrictEqual(bare);
  });

  it('encodes only the token set fields, in a fixed order', () => {
    // Prepare
    const withExtra = { idToken: 'id-token-never-stored', ...tokenSet() } as TokenSet;

    // Act
    const text = encodeTokenSet(withExtra);

    // Assess
    expect(text).not.toContain('id-token-never-stored');
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['accessToken', 'tokenType', 'expiresAt', 'refreshToken', 'scope', 'obtainedAt']);
    expect(text).toBe(encodeTokenSet(tokenSet()));
  });

  it('keeps the revocation endpoint recorded with a set (a URL or null), and leaves sets stored before without one', () => {
    // Prepare
    const recorded = tokenSet({ revocationEndpoint: 'https://as.example/revoke' });
    const none = tokenSet({ revocationEndpoint: null });

    // Act / Assess
    expect(decodeTokenSet(encodeTokenSet(recorded))).toStrictEqual(recorded);
    expect(decodeTokenSet(encodeTokenSet(none))).toStrictEqual(none);
    expect(decodeTokenSet(encodeTokenSet(tokenSet()))).not.toHaveProperty('revocationEndpoint');
    expect(() => decodeTokenSet(JSON.stringify({ ...tokenSet(), revocationEndpoint: 42 }))).toThrow(TokenSetCodecError);
  });

  it('ignores unknown stored fields', () => {
    // Prepare
    const stored = JSON.stringify({ ...tokenSet(), idToken: 'id-token', futureField: 1 });

    // Act
    const decoded = decodeTokenSet(stored);

    // Assess
    expect(decoded).toStrictEqual(tokenSet());
  });

  it.each([
    ['not JSON', `{"accessToken":"${ACCESS_TOKEN}", truncated`],
    ['JSON null', 'null'],
    ['a JSON string', JSON.stringify(ACCESS_TOKEN)],
    ['a JSON array', JSON.stringify([ACCESS_TOKEN, REFRESH_TOKEN])],
    ['missing fields', JSON.stringify({ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN })],
    ['an empty access token', JSON.stringify({ ...tokenSet(), accessToken: '' })],
    ['an empty token type', JSON.stringify({ ...tokenSet(), tokenType: '' })],
    ['a numeric expiry', JSON.stringify({ ...tokenSet(), expiresAt: 12 })],
    ['an expiry that is no date', JSON.stringify({ ...tokenSet(), expiresAt: `soon ${REFRESH_TOKEN}` })],
    ['a numeric refresh token', JSON.stringify({ ...tokenSet(), refreshToken: 42 })],
    ['a missing scope', JSON.stringify({ ...tokenSet(), scope: undefined })],
    ['fields only on the prototype', `{"__proto__": ${JSON.stringify(tokenSet())}}`],
  ])('refuses a stored token set that is %s, with one fixed message and no cause', (_label, stored) => {
    // Act
    const error = thrown(() => decodeTokenSet(stored));

    // Assess
    expect(error).toBeInstanceOf(TokenSetCodecError);
    expect(error.message).toBe(MALFORMED_TOKEN_SET);
    expect(error.cause).toBeUndefined();
    expectNoValueIn(error, [ACCESS_TOKEN, REFRESH_TOKEN, stored]);
  });

  it.each([
    ['an empty access token', tokenSet({ accessToken: '' })],
    ['a non-string access token', tokenSet({ accessToken: 7 as unknown as string })],
    ['an expiry that is no date', tokenSet({ expiresAt: 'tomorrow' })],
    ['an undefined refresh token', tokenSet({ refreshToken: undefined as unknown as null })],
  ])('refuses to encode a token set with %s, without echoing it', (_label, tokens) => {
    // Act
    const error = thrown(() => encodeTokenSet(tokens));

    // Assess
    expect(error).toBeInstanceOf(TokenSetCodecError);
    expect(error.message).toBe('token set to store is malformed');
    expectNoValueIn(error, [ACCESS_TOKEN, REFRESH_TOKEN]);
  });

  it('accepts request tokens of 32 to 64 characters, or none', () => {
    // Act
    const accepted = [undefined, 'a'.repeat(32), 'b'.repeat(64), '0f2a1e63-0000-4000-8000-000000000000'].map((token) => {
      checkRequestToken(token);
      return token;
    });

    // Assess
    expect(accepted).toHaveLength(4);
  });

  it.each([
    ['too short', 'x'.repeat(31)],
    ['too long', 'y'.repeat(65)],
    ['empty', ''],
  ])('refuses a request token that is %s, without echoing it', (_label, token) => {
    // Act
    const error = thrown(() => checkRequestToken(token));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('a token set request token must be 32 to 64 characters long');
  });
});
