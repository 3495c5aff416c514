/**
 * The KMS `KeyProvider`: the signing keys the stack created, named by ARN in `BROKER_SIGNING_KEYS`
 * (`<alg>=<key ARN>`, comma-separated), and their signers. The broker never creates or deletes a KMS key
 * (no kms:CreateKey, no key policy to manage): the stack owns them, the broker only signs and reads public
 * halves. The KMS SDK is loaded on first use.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { conflict, invalidRequest } from '../errors.js';
import type { KeyRing, KeySource, RingKey } from './key-ring.js';
import { alreadyInRing, keyRefusal, type KeyProvider } from './key-providers.js';
import { isSigningAlgorithm, KeyMismatchError, SigningError, type Signer, type SigningAlgorithm } from './signer.js';

export interface ConfiguredKmsKey {
  alg: SigningAlgorithm;
  keyArn: string;
}

/** An error in `BROKER_SIGNING_KEYS`, naming the entry and the expected form. */
export class SigningKeysConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeysConfigurationError';
  }
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/;

/** Parses `BROKER_SIGNING_KEYS`: `ES256=arn:aws:kms:…:key/…,RS256=arn:…`; empty or unset: none. */
export function parseSigningKeys(value: string | undefined): ConfiguredKmsKey[] {
  if (!value || value.trim() === '') return [];
  const keys = value.split(',').map((entry) => {
    const [alg, keyArn, extra] = entry.trim().split('=');
    if (!isSigningAlgorithm(alg) || !keyArn || extra !== undefined || !KMS_KEY_ARN.test(keyArn)) {
      throw new SigningKeysConfigurationError(
        `BROKER_SIGNING_KEYS must be comma-separated <alg>=<KMS key ARN> entries, alg one of ES256, RS256, PS256; "${entry.trim().slice(0, 120)}" is not.`,
      );
    }
    return { alg, keyArn };
  });
  // One key, one algorithm: a key's kid (its thumbprint) names it in the JWKS and in every rotation step.
  const twice = keys.find((key, i) => keys.findIndex((other) => other.keyArn === key.keyArn) !== i);
  if (twice) throw new SigningKeysConfigurationError(`BROKER_SIGNING_KEYS lists the KMS key ${twice.keyArn} more than once; give each algorithm its own key.`);
  return keys;
}

type KmsModule = typeof import('../adapters/kms-signer.js');

export class KmsKeyProvider implements KeyProvider {
  readonly kind = 'kms';
  readonly #signers = new Map<string, Promise<Signer>>();
  #module: Promise<{ kms: KmsModule; client: Pick<KMSClient, 'send'> }> | undefined;

  constructor(
    private readonly options: {
      keys: ConfiguredKmsKey[];
      /** Default: a `KMSClient` with the SDK's defaults and the given options. */
      client?: Pick<KMSClient, 'send'>;
      clientOptions?: ConstructorParameters<typeof KMSClient>[0];
    },
  ) {}

  async create(alg: SigningAlgorithm, ring: KeyRing, options: { keyArn?: string }): Promise<{ source: KeySource; signer: Signer }> {
    const configured = this.options.keys;
    let chosen: ConfiguredKmsKey | undefined;
    if (options.keyArn !== undefined) {
      chosen = configured.find((key) => key.keyArn === options.keyArn);
      if (!chosen) {
        throw invalidRequest(
          `The KMS key ${options.keyArn} is not one of the broker's signing keys (BROKER_SIGNING_KEYS): add it to the stack, deploy, then rotate to it.`,
          'key_not_configured',
        );
      }
      if (chosen.alg !== alg) {
        throw invalidRequest(`The KMS key ${options.keyArn} is configured for ${chosen.alg}, not ${alg}: ask for alg ${chosen.alg}, or name a ${alg} key.`, 'algorithm_mismatch');
      }
      alreadyInRing(ring, chosen.keyArn);
    } else {
      const candidates = configured.filter((key) => key.alg === alg);
      if (candidates.length === 0) {
        throw invalidRequest(`No ${alg} signing key is configured for this broker: the stack lists them in BROKER_SIGNING_KEYS (see docs/keys.md).`, 'no_signing_key');
      }
      chosen = candidates.find((key) => !ring.keys.some((used) => used.source.kind === 'kms' && used.source.keyArn === key.keyArn));
      if (!chosen) {
        throw conflict(`Every configured ${alg} KMS key is in use or was used before: add a new key to the stack, deploy, and rotate again.`, 'no_unused_key');
      }
    }
    const signer = await this.#load(chosen.keyArn, alg);
    return { source: { kind: 'kms', keyArn: chosen.keyArn }, signer };
  }

  async signer(key: RingKey): Promise<Signer> {
    if (key.source.kind !== 'kms') throw new SigningError('error', `The key ${key.kid} is a local-mode key; this broker signs with KMS keys only: rotate to a KMS key.`);
    const keyArn = key.source.keyArn;
    let signer = this.#signers.get(key.kid);
    if (!signer) {
      signer = this.#kms().then(({ kms, client }) => new kms.KmsSigner(client, keyArn, key.alg, key.publicJwk));
      this.#signers.set(key.kid, signer);
    }
    return signer;
  }

  async discard(): Promise<void> {
    // The stack owns the KMS key: it is scheduled for deletion there once the key is withdrawn.
  }

  /** `GetPublicKey` and the algorithm checks; refused keys are the caller's bad input (400), KMS outages 503. */
  async #load(keyArn: string, alg: SigningAlgorithm): Promise<Signer> {
    const { kms, client } = await this.#kms();
    try {
      return await kms.KmsSigner.load(client, keyArn, alg);
    } catch (error) {
      if (error instanceof KeyMismatchError) throw invalidRequest(`${error.message} Nothing was changed.`, 'key_mismatch');
      throw keyRefusal(error);
    }
  }

  #kms(): Promise<{ kms: KmsModule; client: Pick<KMSClient, 'send'> }> {
    this.#module ??= import('../adapters/kms-signer.js').then((kms) => ({
      kms,
      client: this.options.client ?? new kms.KMSClient(this.options.clientOptions ?? {}),
    }));
    return this.#module;
  }
}
