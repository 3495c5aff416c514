/**
 * Where signing keys come from (docs/keys.md "Design"): the `KeyProvider` port, and its local adapter, which
 * makes keys itself and seals their private halves in the encrypted file vault. The KMS adapter
 * (`kms-keys.ts`) takes keys the stack created, named by ARN.
 */
import { conflict, invalidRequest, temporarilyUnavailable } from '../errors.js';
import type { KeyRing, KeySource, RingKey } from './key-ring.js';
import { LocalSigner } from './local-signer.js';
import { SigningError, type Signer, type SigningAlgorithm } from './signer.js';

export interface KeyProvider {
  /** `none`: no signing keys are configured (the ring stays empty). */
  readonly kind: 'kms' | 'local' | 'none';
  /** A new key for `alg` that is not in `ring` (made, or taken from the configured keys), with its signer. */
  create(alg: SigningAlgorithm, ring: KeyRing, options: { keyArn?: string }): Promise<{ source: KeySource; signer: Signer }>;
  /** The signer of a key of the ring. */
  signer(key: RingKey): Promise<Signer>;
  /** Forgets a key's private half where the broker holds it (local); a KMS key is deleted by its owner, the stack. */
  discard(key: Pick<RingKey, 'kid'>): Promise<void>;
}

/** What the file vault keeps for local keys (`lib/adapters/file-vault.ts`): PKCS #8 PEM, sealed, by `kid`. */
export interface LocalKeyVault {
  putSigningKey(kid: string, privateKeyPem: string): Promise<void>;
  getSigningKey(kid: string): Promise<string | undefined>;
  deleteSigningKey(kid: string): Promise<void>;
}

export class LocalKeyProvider implements KeyProvider {
  readonly kind = 'local';
  readonly #signers = new Map<string, Signer>();

  constructor(private readonly vault: LocalKeyVault) {}

  async create(alg: SigningAlgorithm, _ring: KeyRing, options: { keyArn?: string }): Promise<{ source: KeySource; signer: Signer }> {
    if (options.keyArn !== undefined) {
      throw invalidRequest('keyArn names a KMS key, and local mode makes its own keys: omit keyArn.', 'key_arn_in_local_mode');
    }
    const signer = LocalSigner.generate(alg);
    await this.vault.putSigningKey(signer.kid, signer.exportPem());
    this.#signers.set(signer.kid, signer);
    return { source: { kind: 'local' }, signer };
  }

  async signer(key: RingKey): Promise<Signer> {
    const known = this.#signers.get(key.kid);
    if (known) return known;
    const pem = await this.vault.getSigningKey(key.kid);
    if (pem === undefined) {
      throw new SigningError('error', `The private key of the local signing key ${key.kid} is not in the vault: rotate to a new key (POST /keys/rotate, then /keys/promote).`);
    }
    const signer = LocalSigner.fromPem(pem, key.alg);
    if (signer.kid !== key.kid) throw new SigningError('error', `The vault holds another key under ${key.kid}: rotate to a new key.`);
    this.#signers.set(key.kid, signer);
    return signer;
  }

  async discard(key: Pick<RingKey, 'kid'>): Promise<void> {
    this.#signers.delete(key.kid);
    await this.vault.deleteSigningKey(key.kid);
  }
}

/** No signing keys at all: every use says how to configure them. */
export class NoKeyProvider implements KeyProvider {
  readonly kind = 'none';
  async create(alg: SigningAlgorithm): Promise<never> {
    throw invalidRequest(
      `This broker has no signing keys configured, so it cannot sign ${alg} client assertions: the stack sets BROKER_SIGNING_KEYS (see docs/keys.md).`,
      'no_signing_keys',
    );
  }

  async signer(key: RingKey): Promise<never> {
    throw new SigningError('error', `This broker cannot sign with ${key.kid}: no signing keys are configured (BROKER_SIGNING_KEYS).`);
  }

  async discard(): Promise<void> {}
}

/**
 * A key that cannot sign, as the admin route answers it: refused by KMS or of the wrong kind is the
 * caller's to fix (400 `key_unusable`, nothing changed); KMS unreachable is temporary (503). Anything else
 * is returned as it is.
 */
export function keyRefusal(error: unknown): unknown {
  if (!(error instanceof SigningError)) return error;
  return error.kind === 'error'
    ? invalidRequest(`${error.message} Nothing was changed.`, 'key_unusable')
    : temporarilyUnavailable(error.message, 5, 'kms_unavailable');
}

/** A key already in the ring cannot be added again. */
export function alreadyInRing(ring: KeyRing, keyArn: string): void {
  const existing = ring.keys.find((key) => key.source.kind === 'kms' && key.source.keyArn === keyArn);
  if (existing) {
    throw conflict(`The KMS key ${keyArn} is already in the key ring (status ${existing.status}); a rotation needs a key not used before.`, 'key_already_used');
  }
}
