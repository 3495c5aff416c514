/**
 * The signer port: what signs the broker's client assertions (RFC 7523 §2.2, OpenID Connect Core §9
 * `private_key_jwt`) and its certificates. Two adapters: KMS (`lib/adapters/kms-signer.ts`, the key never
 * leaves KMS) and local (`local-signer.ts`, the key sealed in the file vault). Also the JOSE helpers every
 * adapter shares: the public JWK, its RFC 7638 thumbprint (which is the key's `kid`) and compact JWS.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** JWS algorithms (RFC 7518 §3.1) the broker signs with. ES256 is the default. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
export const DEFAULT_SIGNING_ALGORITHM: SigningAlgorithm = 'ES256';

export const isSigningAlgorithm = (value: unknown): value is SigningAlgorithm =>
  typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value);

/** A public JWK (RFC 7517 §4, RFC 7518 §6): only public members, ever. */
export interface PublicJwk {
  kty: 'EC' | 'RSA';
  crv?: 'P-256';
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** As published in the JWKS: the public key with `kid`, `alg` and `use`. */
export interface PublishedJwk extends PublicJwk {
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
}

export interface Signer {
  /** RFC 7638 thumbprint of the public key: the `kid` of every JWS it makes. */
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly publicJwk: PublicJwk;
  /**
   * The JWS signature of `data` (RFC 7515 §5.1 step 5) under `alg`: R‖S of 32 + 32 bytes for ES256
   * (RFC 7518 §3.4), the RSA signature for RS256/PS256. Errors are `SigningError`s.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A signature could not be made. `passing` for a signer that is busy or unreachable (retry), `error` for a
 * key that cannot sign (disabled, deleted, not allowed, wrong kind): a person must fix the configuration.
 * The message names the key and what to do; never key material.
 */
export class SigningError extends Error {
  constructor(
    readonly kind: 'passing' | 'error',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SigningError';
  }
}

/** A key that does not fit the algorithm asked for, or is not a signing key: a configuration error. */
export class KeyMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyMismatchError';
  }
}

/** The public JWK of a key object, reduced to its public members (RFC 7517 §4, RFC 7518 §6.2.1, §6.3.1). */
export function publicJwkOf(key: KeyObject): PublicJwk {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' }) as JsonWebKey;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && jwk.x && jwk.y) return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  if (jwk.kty === 'RSA' && jwk.n && jwk.e) return { kty: 'RSA', n: jwk.n, e: jwk.e };
  throw new KeyMismatchError('Only P-256 EC keys and RSA keys can sign client assertions.');
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: PublicJwk): string {
  const canonical = jwk.kty === 'EC' ? { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y } : { e: jwk.e, kty: 'RSA', n: jwk.n };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

/**
 * Whether `jwk` can make `alg` signatures: ES256 needs a P-256 EC key (RFC 7518 §3.4), RS256 and PS256 an
 * RSA key of at least 2048 bits (§3.3, §3.5). Throws a `KeyMismatchError` saying what is needed.
 */
export function assertKeyFits(jwk: PublicJwk, alg: SigningAlgorithm, keyName: string): void {
  if (alg === 'ES256') {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new KeyMismatchError(`${keyName} is an RSA key; ES256 needs a P-256 elliptic-curve key (KMS key spec ECC_NIST_P256).`);
    return;
  }
  if (jwk.kty !== 'RSA') throw new KeyMismatchError(`${keyName} is an elliptic-curve key; ${alg} needs an RSA key of 2048 bits or more (KMS key spec RSA_2048, RSA_3072 or RSA_4096).`);
  if (Buffer.from(jwk.n ?? '', 'base64url').length < 256) throw new KeyMismatchError(`${keyName} is an RSA key shorter than 2048 bits; ${alg} needs 2048 bits or more.`);
}

export function publishedJwk(jwk: PublicJwk, alg: SigningAlgorithm): PublishedJwk {
  return { ...jwk, kid: jwkThumbprint(jwk), alg, use: 'sig' };
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** A compact JWS (RFC 7515 §7.1) of `payload`, with `alg` and `kid` from the signer, `typ` JWT and `header`'s extra parameters. */
export async function signCompactJws(signer: Signer, payload: Record<string, unknown>, header: Record<string, string> = {}): Promise<string> {
  const input = `${part({ ...header, alg: signer.alg, kid: signer.kid, typ: 'JWT' })}.${part(payload)}`;
  const signature = await signer.sign(Buffer.from(input, 'ascii'));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}
