import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openAesGcm, sealAesGcm } from '../../lib/aes-gcm.js';
import { openStagedTokens, sealStagedTokens } from '../../lib/staging.js';
import type { TokenSet } from '../../lib/ports.js';

const KEY = randomBytes(32);
const AAD = Buffer.from('profile-1');

/** A value sealed like `sealAesGcm` but with a GCM tag of `tagBytes` (what an attacker would forge). */
function sealWithTag(key: Buffer, plaintext: string, aad: Buffer, tagBytes: number): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

describe('the AES-256-GCM seal', () => {
  it('opens what it sealed, with the same key and associated data only', () => {
    // Prepare
    const sealed = sealAesGcm(KEY, 'hello', AAD);

    // Act / Assess
    expect(openAesGcm(KEY, sealed, AAD)?.toString('utf8')).toBe('hello');
    expect(openAesGcm(randomBytes(32), sealed, AAD)).toBeUndefined();
    expect(openAesGcm(KEY, sealed, Buffer.from('profile-2'))).toBeUndefined();
    expect(Buffer.from(sealed.split('.')[3]!, 'base64url')).toHaveLength(16);
  });

  it.each([4, 8, 12, 15])('refuses a value whose tag is %i bytes, although it authenticates at that length', (tagBytes) => {
    // Prepare
    const short = sealWithTag(KEY, 'forged', AAD, tagBytes);

    // Act / Assess
    expect(openAesGcm(KEY, short, AAD)).toBeUndefined();
  });

  it('refuses extra parts, another version and a modified ciphertext', () => {
    const sealed = sealAesGcm(KEY, 'hello', AAD);
    const [v, nonce, body, tag] = sealed.split('.') as [string, string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(openAesGcm(KEY, `${sealed}.x`, AAD)).toBeUndefined();
    expect(openAesGcm(KEY, ['v2', nonce, body, tag].join('.'), AAD)).toBeUndefined();
    expect(openAesGcm(KEY, [v, nonce, flipped.toString('base64url'), tag].join('.'), AAD)).toBeUndefined();
  });
});

describe('staged token sets', () => {
  const tokens: TokenSet = {
    accessToken: 'at-staged',
    tokenType: 'Bearer',
    expiresAt: '2026-01-01T00:00:00.000Z',
    refreshToken: 'rt-new',
    scope: null,
    obtainedAt: '2026-01-01T00:00:00.000Z',
  };

  it('open under the refresh token they were sealed with', () => {
    const sealed = sealStagedTokens(tokens, 'rt-previous', 'erp');
    expect(openStagedTokens(sealed, 'rt-previous', 'erp')).toEqual(tokens);
    expect(openStagedTokens(sealed, 'rt-other', 'erp')).toBeUndefined();
    expect(openStagedTokens(sealed, 'rt-previous', 'crm')).toBeUndefined();
  });

  it('refuse a 4-byte tag (the staging seal once accepted one)', async () => {
    // Prepare: the key staging derives, taken by sealing a known value and forging with a short tag.
    const { hkdfSync } = await import('node:crypto');
    const key = Buffer.from(hkdfSync('sha256', 'rt-previous', 'erp', 'oauth-broker staged token set v1', 32));
    const forged = sealWithTag(key, JSON.stringify(tokens), Buffer.from('erp'), 4);

    // Act / Assess
    expect(openStagedTokens(forged, 'rt-previous', 'erp')).toBeUndefined();
  });
});
