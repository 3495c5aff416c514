/**
 * The KMS signer adapter (signer port, `lib/keys/signer.ts`): client assertions signed by an asymmetric
 * KMS key whose private half never leaves KMS. Owns the mapping of JWS algorithms to KMS signing
 * algorithms (pinned: one per key, checked against the key's spec before first use), the DER→R‖S
 * conversion of ECDSA signatures, and the meaning of KMS failures (busy: retry; unusable key: fix it).
 *
 * Loaded with `import()` by `lib/keys/kms-keys.ts` only when a profile signs: the token path of a
 * secret-based profile never loads the KMS SDK.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { derToJoseEcdsa } from '../keys/der.js';
import { assertKeyFits, jwkThumbprint, KeyMismatchError, publicJwkOf, SigningError, type PublicJwk, type Signer, type SigningAlgorithm } from '../keys/signer.js';

export { KMSClient };

/** RFC 7518 §3.1 → KMS `SigningAlgorithm`. The stack pins `kms:SigningAlgorithm` to the same value. */
export const KMS_SIGNING_ALGORITHMS: Record<SigningAlgorithm, SigningAlgorithmSpec> = {
  ES256: 'ECDSA_SHA_256',
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  PS256: 'RSASSA_PSS_SHA_256',
};

/** KMS signs messages up to this size as they are (`RAW`); larger ones as their SHA-256 digest (`DIGEST`). */
export const KMS_RAW_MESSAGE_LIMIT = 4096;

/** KMS errors that mean "not now": retry later, the key is fine. */
const PASSING_KMS_ERRORS = new Set([
  'ThrottlingException',
  'KeyUnavailableException',
  'DependencyTimeoutException',
  'KMSInternalException',
  'TimeoutError',
  'RequestTimeout',
]);

/** What a KMS failure means, in a sentence that names the key and what to do. */
export function kmsFailure(error: unknown, keyArn: string, action: 'sign with' | 'read'): SigningError {
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  if ((name && PASSING_KMS_ERRORS.has(name)) || (status !== undefined && status >= 500) || error instanceof TypeError) {
    return new SigningError('passing', `KMS could not ${action} the key ${keyArn} right now (${name ?? 'network error'}); the broker retries.`, { cause: error });
  }
  const why: Record<string, string> = {
    NotFoundException: 'it does not exist in this account and region',
    DisabledException: 'it is disabled: enable it, or rotate to another key',
    KMSInvalidStateException: 'it is pending deletion or not usable: cancel the deletion, or rotate to another key',
    AccessDeniedException: "the broker's role may not use it: the stack grants kms:Sign and kms:GetPublicKey on the keys it configures",
    InvalidKeyUsageException: 'it is not a SIGN_VERIFY key, or does not allow this signing algorithm',
  };
  return new SigningError('error', `The broker cannot ${action} the KMS key ${keyArn}: ${(name && why[name]) ?? `KMS refused (${name ?? 'unknown error'})`}.`, { cause: error });
}

export class KmsSigner implements Signer {
  readonly kid: string;

  /** A signer for a key whose public JWK is already known (read from the key ring). */
  constructor(
    private readonly client: Pick<KMSClient, 'send'>,
    readonly keyArn: string,
    readonly alg: SigningAlgorithm,
    readonly publicJwk: PublicJwk,
  ) {
    this.kid = jwkThumbprint(publicJwk);
  }

  /**
   * Reads the key's public half (`GetPublicKey`) and checks it can make `alg` signatures: a SIGN_VERIFY key
   * of the right spec that allows the pinned KMS algorithm. Throws `KeyMismatchError` (wrong key) or
   * `SigningError` (KMS refused or failed).
   */
  static async load(client: Pick<KMSClient, 'send'>, keyArn: string, alg: SigningAlgorithm): Promise<KmsSigner> {
    let out;
    try {
      out = await client.send(new GetPublicKeyCommand({ KeyId: keyArn }));
    } catch (error) {
      throw kmsFailure(error, keyArn, 'read');
    }
    const name = `The KMS key ${keyArn}`;
    if (out.KeyUsage !== 'SIGN_VERIFY') throw new KeyMismatchError(`${name} is not a signing key (key usage ${out.KeyUsage ?? 'unknown'}; SIGN_VERIFY is needed).`);
    if (!out.PublicKey) throw new KeyMismatchError(`${name} has no public key.`);
    let jwk: PublicJwk;
    try {
      jwk = publicJwkOf(createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' }));
    } catch {
      throw new KeyMismatchError(`${name} (key spec ${out.KeySpec ?? 'unknown'}) is neither a P-256 nor an RSA key.`);
    }
    assertKeyFits(jwk, alg, `${name} (key spec ${out.KeySpec ?? 'unknown'})`);
    const pinned = KMS_SIGNING_ALGORITHMS[alg];
    if (out.SigningAlgorithms && !out.SigningAlgorithms.includes(pinned)) {
      throw new KeyMismatchError(`${name} does not allow ${pinned}, which ${alg} needs.`);
    }
    return new KmsSigner(client, keyArn, alg, jwk);
  }

  /**
   * Signs `data` with the pinned algorithm: as it is (MessageType RAW: assertions and certificates are a
   * few hundred bytes, and hold nothing secret), or as its SHA-256 digest (DIGEST) beyond KMS's 4096-byte
   * limit. ECDSA signatures come back DER-encoded and are converted to R‖S.
   */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    const raw = data.length <= KMS_RAW_MESSAGE_LIMIT;
    const message = raw ? data : createHash('sha256').update(data).digest();
    let signature: Uint8Array | undefined;
    try {
      ({ Signature: signature } = await this.client.send(
        new SignCommand({ KeyId: this.keyArn, Message: message, MessageType: raw ? 'RAW' : 'DIGEST', SigningAlgorithm: KMS_SIGNING_ALGORITHMS[this.alg] }),
      ));
    } catch (error) {
      throw kmsFailure(error, this.keyArn, 'sign with');
    }
    if (!signature) throw new SigningError('passing', `KMS returned no signature for the key ${this.keyArn}; the broker retries.`);
    if (this.alg !== 'ES256') return signature;
    try {
      return derToJoseEcdsa(signature, 32);
    } catch (error) {
      throw new SigningError('error', `KMS returned a signature that is not a P-256 ECDSA signature for the key ${this.keyArn}.`, { cause: error });
    }
  }
}
