/**
 * Local mode's signing keys in the file vault (docs/keys.md "Local mode"): sealed by kid, never in clear
 * on disk, kept beside the profiles' secrets, bound to their kid.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileVault, VAULT_DATA_FILE, VaultFileError } from '../../../lib/adapters/file-vault.js';
import { LocalSigner } from '../../../lib/keys/local-signer.js';
import { useTempDir } from '../../support/temp-dir.js';
import { CLIENT_SECRET, tokenSet } from '../support/token-sets.js';

let dir: string;
useTempDir('vault-keys-', (created) => (dir = created));

describe('FileVault signing keys', () => {
  it('round-trips a private key by kid across re-opening; it never appears in clear on disk', async () => {
    const signer = LocalSigner.generate('ES256');
    const pem = signer.exportPem();
    const vault = await FileVault.open({ dir });
    await vault.putSigningKey(signer.kid, pem);
    expect(await vault.getSigningKey(signer.kid)).toBe(pem);
    expect(await vault.getSigningKey('unknown-kid')).toBeUndefined();

    const reopened = await FileVault.open({ dir });
    expect(await reopened.getSigningKey(signer.kid)).toBe(pem);
    expect(LocalSigner.fromPem((await reopened.getSigningKey(signer.kid))!, 'ES256').kid).toBe(signer.kid);
    const onDisk = await readFile(path.join(dir, VAULT_DATA_FILE), 'utf8');
    expect(onDisk).not.toContain('PRIVATE KEY');
    expect(onDisk).not.toContain(pem.split('\n')[1]);
  });

  it('keeps signing keys and profile secrets apart: writing one never drops the other', async () => {
    const signer = LocalSigner.generate('ES256');
    const vault = await FileVault.open({ dir });
    await vault.putSigningKey(signer.kid, signer.exportPem());
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putTokenSet('erp', tokenSet());
    await vault.deleteProfileSecrets('erp');
    expect(await vault.getSigningKey(signer.kid)).toBe(signer.exportPem());
    await vault.putClientSecret('mes', CLIENT_SECRET);
    await vault.deleteSigningKey(signer.kid);
    await vault.deleteSigningKey(signer.kid); // deleting nothing is fine
    expect(await vault.getSigningKey(signer.kid)).toBeUndefined();
    expect(await (await FileVault.open({ dir })).getClientSecret('mes')).toBe(CLIENT_SECRET);
  });

  it('refuses a sealed key moved to another kid (the kid is authenticated), without showing the key', async () => {
    const a = LocalSigner.generate('ES256');
    const b = LocalSigner.generate('ES256');
    const vault = await FileVault.open({ dir });
    await vault.putSigningKey(a.kid, a.exportPem());
    await vault.putSigningKey(b.kid, b.exportPem());
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8')) as { signingKeys: Record<string, string> };
    data.signingKeys[b.kid] = data.signingKeys[a.kid]!;
    await writeFile(file, JSON.stringify(data));
    const error = await FileVault.open({ dir }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(VaultFileError);
    expect((error as VaultFileError).reason).toBe('tampered_vault_file');
    expect((error as Error).message).toContain(`signing key ${b.kid}`);
    expect((error as Error).message).not.toContain('PRIVATE KEY');
  });

  it('refuses a vault file whose signing keys are not sealed strings', async () => {
    await (await FileVault.open({ dir })).putClientSecret('erp', CLIENT_SECRET);
    const file = path.join(dir, VAULT_DATA_FILE);
    const data = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...data, signingKeys: { kid: 42 } }));
    await expect(FileVault.open({ dir })).rejects.toMatchObject({ reason: 'malformed_vault_file' });
  });
});
