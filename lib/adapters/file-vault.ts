/**
 * The local-mode `SecretVault` (docs/design.md "Ports and adapters"): each profile's client secret and token set
 * in one encrypted file, so that `npm start` needs no AWS account.
 *
 * - Key: 32 random bytes in `<dir>/vault.key` (base64), created on first use with mode 0600. The vault
 *   refuses to open when that file is readable by group or others.
 * - Data: `<dir>/vault.json`. Every value is sealed on its own with AES-256-GCM (`lib/aes-gcm.ts`: random 96-bit
 *   nonce, 16-byte tag); the profile id, the kind of secret and the version are bound as associated data,
 *   so an entry cannot be moved to another profile or version without failing authentication. Profile ids
 *   and version ids are stored in clear (they are in the profile store anyway); secret values never are.
 * - Versions: like Secrets Manager's `AWSCURRENT`/`AWSPREVIOUS`, each `putTokenSet` makes a new version (a
 *   random UUID, or the caller's request token) current and keeps the previous {@link MAX_TOKEN_SET_VERSIONS}−1,
 *   so a reader holding the version a status describes still finds it right after a refresh. A request token
 *   behaves like Secrets Manager's `ClientRequestToken`: the same token and token set again add nothing, the
 *   same token with another token set is refused ({@link TokenSetVersionConflictError}).
 * - Writes: serialised within the process (a promise queue), each one a whole-file atomic replace (temp file
 *   in the same directory, fsync, rename, fsync of the directory), so concurrent refreshes cannot lose a
 *   write and a crash leaves either the old or the new file. One process per directory: local mode takes a
 *   lock on its data directory.
 *
 * Errors never quote a value, a file's content or a decryption library's message.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { openAesGcm, sealAesGcm } from '../aes-gcm.js';
import type { LocalKeyVault } from '../keys/key-providers.js';
import type { SecretVault, TokenSet } from '../ports.js';
import { checkRequestToken, decodeTokenSet, encodeTokenSet, TokenSetCodecError } from './token-set-codec.js';

export const VAULT_KEY_FILE = 'vault.key';
export const VAULT_DATA_FILE = 'vault.json';
/** The current token set and the previous ones kept per profile. */
export const MAX_TOKEN_SET_VERSIONS = 3;

const FORMAT = 'oauth-broker-file-vault';
const FORMAT_VERSION = 1;
const KEY_BYTES = 32;

/** A problem with the vault's files: names the file and what to do, never a secret. */
export class VaultFileError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly reason: 'insecure_key_file' | 'malformed_key_file' | 'malformed_vault_file' | 'tampered_vault_file',
  ) {
    super(message);
    this.name = 'VaultFileError';
  }
}

/** `putTokenSet` was given a request token already used for a different token set of the profile. */
export class TokenSetVersionConflictError extends Error {
  constructor(readonly profileId: string) {
    super(`profile "${profileId}" already has a token set version with this request token, holding a different token set`);
    this.name = 'TokenSetVersionConflictError';
  }
}

interface StoredTokenSet {
  version: string;
  createdAt: string;
  sealed: string;
}

interface StoredProfile {
  clientSecret: string | null;
  /** Current first. */
  tokenSets: StoredTokenSet[];
}

interface VaultFile {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  profiles: Record<string, StoredProfile>;
  /** Local mode's client-assertion signing keys (PKCS #8 PEM), sealed, by kid (docs/keys.md). */
  signingKeys?: Record<string, string>;
}

type Kind = 'client-secret' | 'token-set' | 'signing-key';

export interface FileVaultOptions {
  /** The directory holding `vault.key` and `vault.json`; created (mode 0700) when missing. */
  dir: string;
  /** Clock for `createdAt` of versions. */
  now?: () => number;
}

export class FileVault implements SecretVault, LocalKeyVault {
  readonly dir: string;
  readonly keyFile: string;
  readonly dataFile: string;
  readonly #now: () => number;
  #ready: Promise<{ key: Buffer; data: VaultFile }> | undefined;
  /** The tail of the write queue; every write runs after the previous one settled. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: FileVaultOptions) {
    this.dir = path.resolve(options.dir);
    this.keyFile = path.join(this.dir, VAULT_KEY_FILE);
    this.dataFile = path.join(this.dir, VAULT_DATA_FILE);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens (or creates) the vault and checks every stored entry decrypts, so that a wrong key, a tampered
   * file or an insecure key file stops local mode at start instead of failing one request later.
   */
  static async open(options: FileVaultOptions): Promise<FileVault> {
    const vault = new FileVault(options);
    await vault.verify();
    return vault;
  }

  /** Decrypts every entry once; throws a `VaultFileError` on the first that fails. */
  async verify(): Promise<void> {
    const { key, data } = await this.#state();
    for (const [profileId, entry] of Object.entries(data.profiles)) {
      if (entry.clientSecret !== null) this.#unseal(key, entry.clientSecret, profileId, 'client-secret', '');
      for (const tokenSet of entry.tokenSets) this.#unseal(key, tokenSet.sealed, profileId, 'token-set', tokenSet.version);
    }
    for (const [kid, sealed] of Object.entries(data.signingKeys ?? {})) this.#unseal(key, sealed, '', 'signing-key', kid);
  }

  async putSigningKey(kid: string, privateKeyPem: string): Promise<void> {
    await this.#write((data, key) => {
      data.signingKeys = { ...data.signingKeys, [kid]: this.#seal(key, privateKeyPem, '', 'signing-key', kid) };
      return true;
    });
  }

  async getSigningKey(kid: string): Promise<string | undefined> {
    const { key, data } = await this.#state();
    const sealed = data.signingKeys && Object.hasOwn(data.signingKeys, kid) ? data.signingKeys[kid] : undefined;
    return sealed === undefined ? undefined : this.#unseal(key, sealed, '', 'signing-key', kid);
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.#write((data) => {
      if (!data.signingKeys || !Object.hasOwn(data.signingKeys, kid)) return false;
      delete data.signingKeys[kid];
      return true;
    });
  }

  async putClientSecret(profileId: string, clientSecret: string): Promise<void> {
    await this.#write((data, key) => {
      const entry = entryOf(data, profileId) ?? { clientSecret: null, tokenSets: [] };
      setEntry(data, profileId, { ...entry, clientSecret: this.#seal(key, clientSecret, profileId, 'client-secret', '') });
      return true;
    });
  }

  async deleteClientSecret(profileId: string): Promise<void> {
    await this.#write((data) => {
      const entry = entryOf(data, profileId);
      if (!entry || entry.clientSecret === null) return false;
      setEntry(data, profileId, { ...entry, clientSecret: null });
      return true;
    });
  }

  async deleteTokenSet(profileId: string): Promise<void> {
    await this.#write((data) => {
      const entry = entryOf(data, profileId);
      if (!entry || entry.tokenSets.length === 0) return false;
      setEntry(data, profileId, { ...entry, tokenSets: [] });
      return true;
    });
  }

  async getClientSecret(profileId: string): Promise<string | undefined> {
    const { key, data } = await this.#state();
    const sealed = entryOf(data, profileId)?.clientSecret;
    if (sealed === undefined || sealed === null) return undefined;
    return this.#unseal(key, sealed, profileId, 'client-secret', '');
  }

  /**
   * Writes `tokens` as the new current version and returns its id: `options.requestToken` when given (32 to
   * 64 characters, like Secrets Manager's `ClientRequestToken`), else a random UUID. Repeating a write with
   * the same request token and token set returns the same version and changes nothing (while that version is
   * still kept); the same request token with a different token set throws {@link TokenSetVersionConflictError}.
   */
  async putTokenSet(profileId: string, tokens: TokenSet, options: { requestToken?: string } = {}): Promise<string> {
    const { requestToken } = options;
    checkRequestToken(requestToken);
    const plaintext = encodeTokenSet(tokens);
    const version = requestToken ?? randomUUID();
    await this.#write((data, key) => {
      const entry = entryOf(data, profileId) ?? { clientSecret: null, tokenSets: [] };
      const existing = entry.tokenSets.find((t) => t.version === version);
      if (existing) {
        const stored = this.#openTokenSet(key, existing, profileId);
        if (encodeTokenSet(stored) !== plaintext) throw new TokenSetVersionConflictError(profileId);
        return false;
      }
      const sealed = this.#seal(key, plaintext, profileId, 'token-set', version);
      const tokenSets = [{ version, createdAt: new Date(this.#now()).toISOString(), sealed }, ...entry.tokenSets].slice(0, MAX_TOKEN_SET_VERSIONS);
      setEntry(data, profileId, { ...entry, tokenSets });
      return true;
    });
    return version;
  }

  async getTokenSet(profileId: string, version?: string): Promise<TokenSet | undefined> {
    const { key, data } = await this.#state();
    const tokenSets = entryOf(data, profileId)?.tokenSets ?? [];
    const stored = version === undefined ? tokenSets[0] : tokenSets.find((t) => t.version === version);
    if (!stored) return undefined;
    return this.#openTokenSet(key, stored, profileId);
  }

  async deleteProfileSecrets(profileId: string): Promise<void> {
    await this.#write((data) => {
      if (!entryOf(data, profileId)) return false;
      delete data.profiles[profileId];
      return true;
    });
  }

  /** Resolves once every write queued so far has settled (for a clean shutdown). */
  async idle(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }

  // ---------------------------------------------------------------------------------------------------

  #state(): Promise<{ key: Buffer; data: VaultFile }> {
    // A failed open is not cached: fixing the file (e.g. chmod 600) and retrying works without a restart.
    this.#ready ??= this.#load().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #load(): Promise<{ key: Buffer; data: VaultFile }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const key = await this.#loadOrCreateKey();
    let text: string;
    try {
      text = await readFile(this.dataFile, 'utf8');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return { key, data: emptyFile() };
      throw error;
    }
    return { key, data: parseVaultFile(text, this.dataFile) };
  }

  async #loadOrCreateKey(): Promise<Buffer> {
    try {
      const handle = await open(this.keyFile, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      const key = randomBytes(KEY_BYTES);
      try {
        await handle.chmod(0o600);
        await handle.writeFile(`${key.toString('base64')}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await syncDirectory(this.dir);
      return key;
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
    if (process.platform !== 'win32') {
      const { mode } = await stat(this.keyFile);
      if ((mode & 0o077) !== 0) {
        throw new VaultFileError(
          `The vault key file ${this.keyFile} is readable by other users (mode ${(mode & 0o777).toString(8).padStart(3, '0')}). ` +
            `Restrict it with: chmod 600 "${this.keyFile}"`,
          this.keyFile,
          'insecure_key_file',
        );
      }
    }
    const key = Buffer.from((await readFile(this.keyFile, 'utf8')).trim(), 'base64');
    if (key.length !== KEY_BYTES) {
      throw new VaultFileError(
        `The vault key file ${this.keyFile} does not hold a ${KEY_BYTES}-byte key. Restore it, or delete the whole data directory to start over.`,
        this.keyFile,
        'malformed_key_file',
      );
    }
    return key;
  }

  /**
   * Queues a change: `change` edits a copy of the file's content and says whether anything changed; the
   * copy is written atomically and only then becomes the vault's state, so a failed write changes nothing.
   */
  #write(change: (data: VaultFile, key: Buffer) => boolean): Promise<void> {
    const run = this.#queue.catch(() => undefined).then(async () => {
      const state = await this.#state();
      const next = structuredClone(state.data);
      if (!change(next, state.key)) return;
      await writeAtomically(this.dataFile, `${JSON.stringify(next, null, 1)}\n`);
      this.#ready = Promise.resolve({ key: state.key, data: next });
    });
    this.#queue = run;
    return run;
  }

  /** A stored token set, decrypted and decoded; a `VaultFileError` (never the content) when either fails. */
  #openTokenSet(key: Buffer, stored: StoredTokenSet, profileId: string): TokenSet {
    const plaintext = this.#unseal(key, stored.sealed, profileId, 'token-set', stored.version);
    try {
      return decodeTokenSet(plaintext);
    } catch (error) {
      if (error instanceof TokenSetCodecError) throw malformed(this.dataFile);
      throw error;
    }
  }

  #seal(key: Buffer, plaintext: string, profileId: string, kind: Kind, version: string): string {
    return sealAesGcm(key, plaintext, associatedData(profileId, kind, version));
  }

  #unseal(key: Buffer, sealed: string, profileId: string, kind: Kind, version: string): string {
    const plain = openAesGcm(key, sealed, associatedData(profileId, kind, version));
    if (plain) return plain.toString('utf8');
    throw new VaultFileError(
      `The ${kind === 'client-secret' ? 'client secret' : kind === 'token-set' ? 'token set' : 'signing key'} ${kind === 'signing-key' ? version : `of profile "${profileId}"`} in ${this.dataFile} cannot be decrypted: ` +
        `the file was modified, or ${this.keyFile} is not the key it was written with. ` +
        'Restore both files, or delete the data directory to start over (profiles must then be registered and authorized again).',
      this.dataFile,
      'tampered_vault_file',
    );
  }
}

/** Own entries only: a profile id such as `constructor` must not find `Object.prototype`'s. */
function entryOf(data: VaultFile, profileId: string): StoredProfile | undefined {
  return Object.hasOwn(data.profiles, profileId) ? data.profiles[profileId] : undefined;
}

function setEntry(data: Pick<VaultFile, 'profiles'>, profileId: string, entry: StoredProfile): void {
  Object.defineProperty(data.profiles, profileId, { value: entry, enumerable: true, writable: true, configurable: true });
}

function associatedData(profileId: string, kind: Kind, version: string): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, profileId, kind, version]), 'utf8');
}

function emptyFile(): VaultFile {
  return { format: FORMAT, version: FORMAT_VERSION, profiles: {} };
}

function malformed(file: string): VaultFileError {
  return new VaultFileError(
    `The vault file ${file} is not a valid oauth-broker vault. Restore it, or delete the data directory to start over.`,
    file,
    'malformed_vault_file',
  );
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the file's shape (not its secrets: those are checked when decrypted). */
function parseVaultFile(text: string, file: string): VaultFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed(file);
  }
  if (!isObject(json) || json.format !== FORMAT || json.version !== FORMAT_VERSION || !isObject(json.profiles)) throw malformed(file);
  const profiles: Record<string, StoredProfile> = {};
  for (const [profileId, value] of Object.entries(json.profiles)) {
    if (!isObject(value) || !(value.clientSecret === null || isString(value.clientSecret)) || !Array.isArray(value.tokenSets)) throw malformed(file);
    const tokenSets = value.tokenSets.map((t: unknown): StoredTokenSet => {
      if (!isObject(t) || !isString(t.version) || !isString(t.createdAt) || !isString(t.sealed)) throw malformed(file);
      return { version: t.version, createdAt: t.createdAt, sealed: t.sealed };
    });
    setEntry({ profiles }, profileId, { clientSecret: value.clientSecret, tokenSets });
  }
  if (json.signingKeys !== undefined && (!isObject(json.signingKeys) || !Object.values(json.signingKeys).every(isString))) throw malformed(file);
  const signingKeys = json.signingKeys as Record<string, string> | undefined;
  return { format: FORMAT, version: FORMAT_VERSION, profiles, ...(signingKeys ? { signingKeys: { ...signingKeys } } : {}) };
}

/** Temp file in the same directory (same file system), fsync, rename over the target, fsync the directory. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** Makes a rename or create durable. Not possible on every platform (Windows): best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Directories cannot be opened for fsync here; the rename itself is still atomic.
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
