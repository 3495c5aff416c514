import { createCipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FileVault,
  MAX_TOKEN_SET_VERSIONS,
  TokenSetVersionConflictError,
  VAULT_DATA_FILE,
  VAULT_KEY_FILE,
  VaultFileError,
} from '../../../lib/adapters/file-vault.js';
import { TokenSetCodecError } from '../../../lib/adapters/token-set-codec.js';
import type { TokenSet } from '../../../lib/ports.js';
import { useTempDir } from '../../support/temp-dir.js';
import { ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, tokenSet } from '../support/token-sets.js';

/** Every secret value used in this file; none may appear on disk in clear or in any error message. */
const SECRET_VALUES = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

async function caught(work: () => Promise<unknown>): Promise<Error> {
  try {
    await work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

function expectNoSecret(error: Error): void {
  const text = `${error.name} ${error.message} ${String(error.stack)} ${JSON.stringify(error)}`;
  for (const secret of SECRET_VALUES) expect(text).not.toContain(secret);
}

/** Seals `plaintext` the way the vault does (AES-256-GCM, profile, kind and version as associated data). */
async function sealLikeTheVault(plaintext: string, profileId: string, version: string, tagBytes = 16): Promise<string> {
  const key = Buffer.from((await readFile(path.join(dir, VAULT_KEY_FILE), 'utf8')).trim(), 'base64');
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(Buffer.from(JSON.stringify(['oauth-broker-file-vault', profileId, 'token-set', version]), 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

let dir: string;
useTempDir('file-vault-', (created) => (dir = created));

describe('FileVault', () => {
  it('round-trips client secrets and token sets; absent ones are undefined', async () => {
    const vault = new FileVault({ dir });
    expect(await vault.getClientSecret('erp')).toBeUndefined();
    expect(await vault.getTokenSet('erp')).toBeUndefined();

    await vault.putClientSecret('erp', CLIENT_SECRET);
    const version = await vault.putTokenSet('erp', tokenSet());

    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
    expect(await vault.getTokenSet('erp')).toEqual(tokenSet());
    expect(await vault.getTokenSet('erp', version)).toEqual(tokenSet());
    expect(await vault.getTokenSet('other')).toBeUndefined();
    expect(await vault.getClientSecret('other')).toBeUndefined();

    await vault.putClientSecret('erp', 'replaced');
    expect(await vault.getClientSecret('erp')).toBe('replaced');
    // Replacing the client secret keeps the tokens.
    expect(await vault.getTokenSet('erp')).toEqual(tokenSet());
  });

  it('stores only the fields of a token set', async () => {
    const vault = new FileVault({ dir });
    const withExtra = { ...tokenSet(), idToken: 'id-token-not-kept' } as TokenSet;
    await vault.putTokenSet('erp', withExtra);
    expect(await vault.getTokenSet('erp')).toEqual(tokenSet());
  });

  it('keeps the current and previous versions, each readable by its id', async () => {
    const vault = new FileVault({ dir });
    const versions: string[] = [];
    for (let i = 0; i < MAX_TOKEN_SET_VERSIONS + 2; i += 1) {
      versions.push(await vault.putTokenSet('erp', tokenSet({ accessToken: `access-${i}` })));
    }
    expect(new Set(versions).size).toBe(versions.length);
    const last = versions.length - 1;
    expect((await vault.getTokenSet('erp'))?.accessToken).toBe(`access-${last}`);
    for (let i = 0; i < versions.length; i += 1) {
      const found = await vault.getTokenSet('erp', versions[i]);
      if (i > last - MAX_TOKEN_SET_VERSIONS) expect(found?.accessToken).toBe(`access-${i}`);
      else expect(found).toBeUndefined();
    }
    expect(await vault.getTokenSet('erp', 'no-such-version')).toBeUndefined();
  });

  it('deletes both secrets of a profile and only that profile; deleting nothing is fine', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    const version = await vault.putTokenSet('erp', tokenSet());
    await vault.putClientSecret('crm', 'crm-secret');

    await vault.deleteProfileSecrets('erp');
    await vault.deleteProfileSecrets('never-existed');

    expect(await vault.getClientSecret('erp')).toBeUndefined();
    expect(await vault.getTokenSet('erp')).toBeUndefined();
    expect(await vault.getTokenSet('erp', version)).toBeUndefined();
    expect(await vault.getClientSecret('crm')).toBe('crm-secret');
    const reopened = new FileVault({ dir });
    expect(await reopened.getClientSecret('erp')).toBeUndefined();
    expect(await reopened.getClientSecret('crm')).toBe('crm-secret');
  });

  it('deletes one kind of secret alone: the client secret, or the token set; absent ones are fine', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    const version = await vault.putTokenSet('erp', tokenSet());
    await vault.putClientSecret('crm', 'crm-secret');
    await vault.putTokenSet('crm', tokenSet());

    await vault.deleteClientSecret('erp');
    await vault.deleteTokenSet('crm');
    await vault.deleteClientSecret('never-existed');
    await vault.deleteTokenSet('never-existed');

    const reopened = new FileVault({ dir });
    expect(await reopened.getClientSecret('erp')).toBeUndefined();
    expect(await reopened.getTokenSet('erp', version)).toEqual(tokenSet());
    expect(await reopened.getClientSecret('crm')).toBe('crm-secret');
    expect(await reopened.getTokenSet('crm')).toBeUndefined();
  });

  it('treats ids that are names of object properties as ordinary ids', async () => {
    const vault = new FileVault({ dir });
    expect(await vault.getClientSecret('constructor')).toBeUndefined();
    expect(await vault.getTokenSet('constructor')).toBeUndefined();
    await vault.deleteProfileSecrets('constructor');
    await vault.putClientSecret('constructor', CLIENT_SECRET);
    await vault.putTokenSet('__proto__', tokenSet());
    const reopened = new FileVault({ dir });
    expect(await reopened.getClientSecret('constructor')).toBe(CLIENT_SECRET);
    expect(await reopened.getTokenSet('__proto__')).toEqual(tokenSet());
    expect(await reopened.getTokenSet('constructor')).toBeUndefined();
  });

  it('creates the key file with mode 0600 and writes the vault file 0600', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    if (process.platform === 'win32') return;
    expect((await stat(path.join(dir, VAULT_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, VAULT_DATA_FILE))).mode & 0o777).toBe(0o600);
  });

  it('creates a missing directory (mode 0700)', async () => {
    const nested = path.join(dir, 'a', 'b');
    await new FileVault({ dir: nested }).putClientSecret('erp', CLIENT_SECRET);
    if (process.platform !== 'win32') expect((await stat(nested)).mode & 0o777).toBe(0o700);
  });

  it('never writes a secret in clear text, and leaves no temp files behind', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putTokenSet('erp', tokenSet());
    await vault.putTokenSet('erp', tokenSet({ expiresAt: '2026-11-28T12:00:00.000Z' }));
    for (const name of await readdir(dir)) {
      const raw = await readFile(path.join(dir, name));
      for (const secret of SECRET_VALUES) {
        expect(raw.includes(secret)).toBe(false);
        expect(raw.includes(Buffer.from(secret).toString('base64'))).toBe(false);
        expect(raw.includes(Buffer.from(secret).toString('base64url'))).toBe(false);
      }
    }
    expect((await readdir(dir)).sort()).toEqual([VAULT_DATA_FILE, VAULT_KEY_FILE].sort());
  });

  it('seals each entry under its own nonce: the same value twice gives different ciphertexts', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('a', CLIENT_SECRET);
    await vault.putClientSecret('b', CLIENT_SECRET);
    const data = JSON.parse(await readFile(path.join(dir, VAULT_DATA_FILE), 'utf8'));
    expect(data.profiles.a.clientSecret).not.toBe(data.profiles.b.clientSecret);
  });

  it('survives re-opening: a new vault on the same directory reads what the old one wrote', async () => {
    const first = new FileVault({ dir });
    await first.putClientSecret('erp', CLIENT_SECRET);
    const older = await first.putTokenSet('erp', tokenSet({ accessToken: 'older' }));
    const current = await first.putTokenSet('erp', tokenSet());
    const key = await readFile(path.join(dir, VAULT_KEY_FILE), 'utf8');

    const second = await FileVault.open({ dir });
    expect(await second.getClientSecret('erp')).toBe(CLIENT_SECRET);
    expect(await second.getTokenSet('erp')).toEqual(tokenSet());
    expect(await second.getTokenSet('erp', current)).toEqual(tokenSet());
    expect((await second.getTokenSet('erp', older))?.accessToken).toBe('older');
    // The key is not replaced on re-opening.
    expect(await readFile(path.join(dir, VAULT_KEY_FILE), 'utf8')).toBe(key);
  });

  it('fails with a clear error, without any secret, when the vault file was tampered with', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putTokenSet('erp', tokenSet());
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8'));
    const sealed: string = data.profiles.erp.tokenSets[0].sealed;
    const [v, nonce, body, tag] = sealed.split('.') as [string, string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] = flipped[0]! ^ 0x01;
    data.profiles.erp.tokenSets[0].sealed = [v, nonce, flipped.toString('base64url'), tag].join('.');
    await writeFile(file, JSON.stringify(data));

    const reopened = new FileVault({ dir });
    const error = await caught(() => reopened.getTokenSet('erp'));
    expect(error).toBeInstanceOf(VaultFileError);
    expect((error as VaultFileError).reason).toBe('tampered_vault_file');
    expect(error.message).toMatch(/profile "erp".*cannot be decrypted: the file was modified/);
    expect(error.message).toContain(file);
    expectNoSecret(error);
    // The untouched entry still reads; opening checks every entry and refuses.
    expect(await reopened.getClientSecret('erp')).toBe(CLIENT_SECRET);
    const openError = await caught(() => FileVault.open({ dir }));
    expect((openError as VaultFileError).reason).toBe('tampered_vault_file');
    expectNoSecret(openError);
  });

  it('refuses an entry sealed with a 4-byte tag, although it authenticates at that length', async () => {
    const vault = new FileVault({ dir });
    await vault.putTokenSet('erp', tokenSet());
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8'));
    const stored = data.profiles.erp.tokenSets[0];
    stored.sealed = await sealLikeTheVault(JSON.stringify(tokenSet({ accessToken: 'forged-access-token' })), 'erp', stored.version, 4);
    await writeFile(file, JSON.stringify(data));

    const error = await caught(() => new FileVault({ dir }).getTokenSet('erp'));
    expect((error as VaultFileError).reason).toBe('tampered_vault_file');
  });

  it('refuses an entry moved to another profile (the profile id is authenticated)', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putClientSecret('crm', 'crm-secret');
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8'));
    data.profiles.crm.clientSecret = data.profiles.erp.clientSecret;
    await writeFile(file, JSON.stringify(data));
    const error = await caught(() => new FileVault({ dir }).getClientSecret('crm'));
    expect((error as VaultFileError).reason).toBe('tampered_vault_file');
    expectNoSecret(error);
  });

  it('refuses a vault file that is not JSON, or not a vault, with a clear error', async () => {
    await new FileVault({ dir }).putClientSecret('erp', CLIENT_SECRET);
    const file = path.join(dir, VAULT_DATA_FILE);
    for (const content of ['{not json', '[]', JSON.stringify({ format: 'something-else', version: 1, profiles: {} })]) {
      await writeFile(file, content);
      const error = await caught(() => new FileVault({ dir }).getClientSecret('erp'));
      expect(error).toBeInstanceOf(VaultFileError);
      expect(error.message).toContain('is not a valid oauth-broker vault');
      expectNoSecret(error);
    }
  });

  it('fails with a clear error when the key does not match the file', async () => {
    await new FileVault({ dir }).putTokenSet('erp', tokenSet());
    await writeFile(path.join(dir, VAULT_KEY_FILE), `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
    const error = await caught(() => FileVault.open({ dir }));
    expect(error.message).toContain('is not the key it was written with');
    expectNoSecret(error);
  });

  it('refuses a malformed key file', async () => {
    await writeFile(path.join(dir, VAULT_KEY_FILE), 'too-short\n', { mode: 0o600 });
    const error = await caught(() => FileVault.open({ dir }));
    expect((error as VaultFileError).reason).toBe('malformed_key_file');
  });

  it.runIf(process.platform !== 'win32')('refuses to open when the key file is readable by others, until it is fixed', async () => {
    await new FileVault({ dir }).putClientSecret('erp', CLIENT_SECRET);
    const keyFile = path.join(dir, VAULT_KEY_FILE);
    await chmod(keyFile, 0o644);
    const vault = new FileVault({ dir });
    const error = await caught(() => vault.getClientSecret('erp'));
    expect((error as VaultFileError).reason).toBe('insecure_key_file');
    expect(error.message).toContain('readable by other users (mode 644)');
    expect(error.message).toContain(`chmod 600 "${keyFile}"`);
    await chmod(keyFile, 0o600);
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it('serialises concurrent writes: none is lost', async () => {
    const vault = new FileVault({ dir });
    const profiles = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const results = await Promise.all(
      profiles.flatMap((id) => [
        vault.putClientSecret(id, `secret-${id}`).then(() => undefined),
        vault.putTokenSet(id, tokenSet({ accessToken: `access-${id}-1` })),
        vault.putTokenSet(id, tokenSet({ accessToken: `access-${id}-2` })),
      ]),
    );
    const versions = results.filter((v): v is string => typeof v === 'string');
    expect(versions).toHaveLength(profiles.length * 2);

    const reopened = new FileVault({ dir });
    for (const id of profiles) {
      expect(await reopened.getClientSecret(id)).toBe(`secret-${id}`);
      // Queued in call order: the second put is current, the first is still there by its version.
      expect((await reopened.getTokenSet(id))?.accessToken).toBe(`access-${id}-2`);
    }
    for (const version of versions) {
      const found = await Promise.all(profiles.map((id) => reopened.getTokenSet(id, version)));
      expect(found.filter(Boolean)).toHaveLength(1);
    }
  });

  it('a failed write changes nothing and does not block later writes', async () => {
    const vault = new FileVault({ dir });
    await vault.putClientSecret('erp', CLIENT_SECRET);
    // Make the rename fail (for root too): the vault file's place is taken by a non-empty directory.
    const file = path.join(dir, VAULT_DATA_FILE);
    const saved = await readFile(file);
    await rm(file);
    await mkdir(path.join(file, 'blocker'), { recursive: true });
    await expect(vault.putClientSecret('erp', 'not-written')).rejects.toThrow();
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    await rm(file, { recursive: true });
    await writeFile(file, saved, { mode: 0o600 });
    await vault.putClientSecret('erp', 'written');
    await vault.idle();
    expect(await new FileVault({ dir }).getClientSecret('erp')).toBe('written');
  });
  it('uses a request token as the version id; the same write again adds nothing', async () => {
    // Prepare
    const vault = new FileVault({ dir });
    const token = 'erp-refresh-0f2a1e63-0000-4000-8000-000000000001';
    const older = await vault.putTokenSet('erp', tokenSet({ accessToken: 'access-older' }));
    const file = path.join(dir, VAULT_DATA_FILE);

    // Act
    const first = await vault.putTokenSet('erp', tokenSet(), { requestToken: token });
    const afterFirst = await readFile(file, 'utf8');
    const again = await vault.putTokenSet('erp', tokenSet(), { requestToken: token });

    // Assess
    expect(first).toBe(token);
    expect(again).toBe(token);
    expect(await readFile(file, 'utf8')).toBe(afterFirst);
    const reopened = await FileVault.open({ dir });
    expect(await reopened.getTokenSet('erp')).toEqual(tokenSet());
    expect(await reopened.getTokenSet('erp', token)).toEqual(tokenSet());
    expect((await reopened.getTokenSet('erp', older))?.accessToken).toBe('access-older');
    const data = JSON.parse(afterFirst) as { profiles: { erp: { tokenSets: { version: string }[] } } };
    expect(data.profiles.erp.tokenSets.map((t) => t.version)).toEqual([token, older]);
  });

  it('refuses a request token reused for a different token set, and keeps the stored one', async () => {
    // Prepare
    const vault = new FileVault({ dir });
    const token = 'c'.repeat(36);
    await vault.putTokenSet('erp', tokenSet(), { requestToken: token });

    // Act
    const error = await caught(() => vault.putTokenSet('erp', tokenSet({ accessToken: 'access-other' }), { requestToken: token }));

    // Assess
    expect(error).toBeInstanceOf(TokenSetVersionConflictError);
    expect(error.message).toContain('profile "erp"');
    expect(error.message).not.toContain(token);
    expectNoSecret(error);
    expect(await new FileVault({ dir }).getTokenSet('erp')).toEqual(tokenSet());
    // The queue goes on after the refused write.
    await vault.putClientSecret('erp', CLIENT_SECRET);
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it('treats a request token as per profile', async () => {
    // Prepare
    const vault = new FileVault({ dir });
    const token = 'e'.repeat(32);

    // Act
    const a = await vault.putTokenSet('a', tokenSet({ accessToken: 'access-a' }), { requestToken: token });
    const b = await vault.putTokenSet('b', tokenSet({ accessToken: 'access-b' }), { requestToken: token });

    // Assess
    expect([a, b]).toEqual([token, token]);
    expect((await vault.getTokenSet('a', token))?.accessToken).toBe('access-a');
    expect((await vault.getTokenSet('b', token))?.accessToken).toBe('access-b');
  });

  it.each([
    ['too short', 'x'.repeat(31)],
    ['too long', 'y'.repeat(65)],
  ])('refuses a request token that is %s, like Secrets Manager, and writes nothing', async (_label, token) => {
    // Prepare
    const vault = new FileVault({ dir });

    // Act
    const error = await caught(() => vault.putTokenSet('erp', tokenSet(), { requestToken: token }));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).not.toContain(token);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to store a malformed token set, without echoing it, and writes nothing', async () => {
    // Prepare
    const vault = new FileVault({ dir });

    // Act
    const error = await caught(() => vault.putTokenSet('erp', tokenSet({ expiresAt: `never ${REFRESH_TOKEN}` })));

    // Assess
    expect(error).toBeInstanceOf(TokenSetCodecError);
    expectNoSecret(error);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a decrypted token set of the wrong shape with a clear error, without its content', async () => {
    // Prepare
    const vault = new FileVault({ dir });
    await vault.putTokenSet('erp', tokenSet());
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8'));
    const version: string = data.profiles.erp.tokenSets[0].version;
    data.profiles.erp.tokenSets[0].sealed = await sealLikeTheVault(JSON.stringify({ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN }), 'erp', version);
    await writeFile(file, JSON.stringify(data));

    // Act
    const error = await caught(() => new FileVault({ dir }).getTokenSet('erp'));

    // Assess
    expect(error).toBeInstanceOf(VaultFileError);
    expect((error as VaultFileError).reason).toBe('malformed_vault_file');
    expect(error.message).toContain(file);
    expect(error.cause).toBeUndefined();
    expectNoSecret(error);
  });
});
