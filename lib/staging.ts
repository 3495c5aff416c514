/**
 * Sealing a token set that could not be written to the vault, so the rotated refresh token survives in the
 * profile store until the next run writes it (lifecycle rule "nothing lost when a write fails").
 *
 * The key is derived (HKDF-SHA-256, RFC 5869) from the refresh token the new set replaces. That token lives
 * only in the vault, so the sealed blob in DynamoDB is useless to someone who can read the table but not
 * the vault; whoever reconciles reads the vault's current token set anyway. AES-256-GCM through `lib/aes-gcm.ts`
 * (random 96-bit nonce, 16-byte tag); the profile id is bound as associated data.
 */
import { hkdfSync } from 'node:crypto';
import { openAesGcm, sealAesGcm } from './aes-gcm.js';
import type { TokenSet } from './ports.js';

const INFO = 'oauth-broker staged token set v1';

function keyFor(previousRefreshToken: string, profileId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', previousRefreshToken, profileId, INFO, 32));
}

export function sealStagedTokens(tokens: TokenSet, previousRefreshToken: string, profileId: string): string {
  return sealAesGcm(keyFor(previousRefreshToken, profileId), JSON.stringify(tokens), Buffer.from(profileId, 'utf8'));
}

/** `undefined` when the blob was not sealed under this refresh token (or was tampered with, or has a short tag). */
export function openStagedTokens(sealed: string, previousRefreshToken: string, profileId: string): TokenSet | undefined {
  const plain = openAesGcm(keyFor(previousRefreshToken, profileId), sealed, Buffer.from(profileId, 'utf8'));
  if (!plain) return undefined;
  try {
    return JSON.parse(plain.toString('utf8')) as TokenSet;
  } catch {
    return undefined;
  }
}
