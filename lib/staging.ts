/**
 * Sealing a token set that could not be written to the vault, so the rotated refresh token survives in the
 * profile store until the next run writes it (lifecycle rule "nothing lost when a write fails").
 *
 * The key is derived (HKDF-SHA-256, RFC 5869) from the refresh token the new set replaces. That token lives
 * only in the vault, so the sealed blob in DynamoDB is useless to someone who can read the table but not
 * the vault; whoever reconciles reads the vault's current token set anyway. AES-256-GCM (NIST SP 800-38D)
 * with a random 96-bit nonce; the profile id is bound as associated data.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { TokenSet } from './ports.js';

const VERSION = 'v1';
const INFO = 'oauth-broker staged token set v1';

function keyFor(previousRefreshToken: string, profileId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', previousRefreshToken, profileId, INFO, 32));
}

export function sealStagedTokens(tokens: TokenSet, previousRefreshToken: string, profileId: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(previousRefreshToken, profileId), nonce);
  cipher.setAAD(Buffer.from(profileId, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  return [VERSION, nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** `undefined` when the blob was not sealed under this refresh token (or was tampered with). */
export function openStagedTokens(sealed: string, previousRefreshToken: string, profileId: string): TokenSet | undefined {
  const [version, nonce, body, tag] = sealed.split('.');
  if (version !== VERSION || !nonce || !body || !tag) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(previousRefreshToken, profileId), Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(profileId, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as TokenSet;
  } catch {
    return undefined;
  }
}
