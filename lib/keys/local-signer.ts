/**
 * The local signer adapter: a private key held in memory by the process, loaded from (and created into) the
 * encrypted file vault of local mode. Same contract as the KMS adapter: JOSE signatures, the algorithm
 * fixed when the signer is made.
 */
import { createPrivateKey, generateKeyPairSync, sign, constants, type KeyObject } from 'node:crypto';
import { assertKeyFits, jwkThumbprint, publicJwkOf, type PublicJwk, type Signer, type SigningAlgorithm } from './signer.js';

export class LocalSigner implements Signer {
  readonly kid: string;
  readonly publicJwk: PublicJwk;
  readonly #key: KeyObject;

  constructor(
    privateKey: KeyObject,
    readonly alg: SigningAlgorithm,
  ) {
    if (privateKey.type !== 'private') throw new TypeError('a LocalSigner needs a private key');
    this.publicJwk = publicJwkOf(privateKey);
    assertKeyFits(this.publicJwk, alg, 'The local key');
    this.kid = jwkThumbprint(this.publicJwk);
    this.#key = privateKey;
  }

  /** From a PKCS #8 PEM, as the vault keeps it. */
  static fromPem(pem: string, alg: SigningAlgorithm): LocalSigner {
    return new LocalSigner(createPrivateKey({ key: pem, format: 'pem' }), alg);
  }

  /** A fresh key for `alg`: P-256 for ES256, RSA 2048 for RS256 and PS256. */
  static generate(alg: SigningAlgorithm): LocalSigner {
    const { privateKey } =
      alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    return new LocalSigner(privateKey, alg);
  }

  /** PKCS #8 PEM, for the vault only. */
  exportPem(): string {
    return this.#key.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    switch (this.alg) {
      case 'ES256':
        // RFC 7518 §3.4: R‖S, which is what OpenSSL calls IEEE P1363.
        return sign('sha256', data, { key: this.#key, dsaEncoding: 'ieee-p1363' });
      case 'RS256':
        return sign('sha256', data, { key: this.#key, padding: constants.RSA_PKCS1_PADDING });
      case 'PS256':
        // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash.
        return sign('sha256', data, { key: this.#key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    }
  }
}
