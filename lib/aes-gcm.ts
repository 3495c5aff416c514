/**
 * The one AES-256-GCM seal of the broker (NIST SP 800-38D): the staged token sets (`lib/staging.ts`) and
 * the local file vault (`lib/adapters/file-vault.ts`) both seal and open through it, so both insist on the
 * same things: a 32-byte key, a random 96-bit nonce and a full 16-byte tag. A shortened tag would let a
 * forger try far fewer guesses, so a sealed value with any other tag length is refused, not opened.
 *
 * Format: `v1.<nonce>.<ciphertext>.<tag>`, each part base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const SEAL_VERSION = 'v1';
const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Seals `plaintext` under `key`, binding `associatedData` (authenticated, not encrypted). */
export function sealAesGcm(key: Buffer, plaintext: string | Buffer, associatedData: Buffer): string {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const body = Buffer.concat([typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext), cipher.final()]);
  return [SEAL_VERSION, nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/**
 * Opens a value sealed by {@link sealAesGcm}; `undefined` when it is malformed, has a nonce or tag of
 * another length, was sealed under another key or associated data, or was modified. Never says which:
 * the caller decides what to tell a person, and no decryption library message reaches a log.
 */
export function openAesGcm(key: Buffer, sealed: string, associatedData: Buffer): Buffer | undefined {
  checkKey(key);
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== SEAL_VERSION) return undefined;
  const [, nonceText, bodyText, tagText] = parts as [string, string, string, string];
  const nonce = Buffer.from(nonceText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]);
  } catch {
    return undefined;
  }
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`an AES-256-GCM key is ${KEY_BYTES} bytes`);
}
