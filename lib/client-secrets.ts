/**
 * The per-container cache of client secrets for the refresh path: a refresh reads the vault for the held
 * token set only. An entry is bound to the grant it was read for (client and token endpoint), so a secret
 * is never sent to an endpoint other than the one it was stored with; a refresh refused with
 * `invalid_client` reads the vault again, once (another container may have stored a new secret).
 */
import type { SecretVault } from './ports.js';
import { grantIdentity, usesClientSecret, type ProfileRecord } from './profile.js';

export class ClientSecrets {
  readonly #vault: SecretVault;
  readonly #entries = new Map<string, { grant: string; secret: string | undefined }>();

  constructor(vault: SecretVault) {
    this.#vault = vault;
  }

  /** The profile's client secret (`undefined` for public clients or none stored), from the cache when it is for this grant. */
  async get(record: Pick<ProfileRecord, 'id' | 'config'>): Promise<string | undefined> {
    if (!usesClientSecret(record.config.clientAuthMethod)) return undefined;
    const grant = grantIdentity(record.config);
    const cached = this.#entries.get(record.id);
    if (cached && cached.grant === grant) return cached.secret;
    return this.reread(record);
  }

  /** Reads the vault again (after `invalid_client`), replacing the cached secret. */
  async reread(record: Pick<ProfileRecord, 'id' | 'config'>): Promise<string | undefined> {
    if (!usesClientSecret(record.config.clientAuthMethod)) return undefined;
    const secret = await this.#vault.getClientSecret(record.id);
    // Never cache an absent secret: a PUT may be writing it right now.
    if (secret === undefined) this.#entries.delete(record.id);
    else this.#entries.set(record.id, { grant: grantIdentity(record.config), secret });
    return secret;
  }

  /** Forgets a profile's secret (it was replaced or deleted in this container). */
  forget(profileId: string): void {
    this.#entries.delete(profileId);
  }
}
