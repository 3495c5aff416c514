/**
 * The key ring: the environment's client-assertion signing keys and where each stands in its rotation
 * (docs/keys.md "Rotation"). Owns the ring's model, its pure transitions and its storage port; the DynamoDB
 * adapter is `dynamodb-key-ring-store.ts`. Only public data lives here: public JWKs, certificates, KMS key
 * ARNs. Private keys stay in KMS (cloud) or the file vault (local mode).
 *
 * Per algorithm, at most one `current` key (the one that signs), at most one `next` key (published, not
 * yet signing) and any number of `retiring` keys (still published until `withdrawAt`). `withdrawn` keys
 * are kept as history so that a KMS key is never picked for a rotation twice.
 */
import type { PublicJwk, SigningAlgorithm } from './signer.js';

export type KeyStatus = 'next' | 'current' | 'retiring' | 'withdrawn';

/** Where the private key is: a KMS key (cloud) or the local file vault (by `kid`). */
export type KeySource = { kind: 'kms'; keyArn: string } | { kind: 'local' };

export interface RingKey {
  /** RFC 7638 thumbprint of `publicJwk`. */
  kid: string;
  alg: SigningAlgorithm;
  status: KeyStatus;
  source: KeySource;
  publicJwk: PublicJwk;
  /** A self-signed X.509 certificate of the key, made by the key itself (base64 DER), for servers that register certificates. */
  certificate: string;
  /** When it entered the JWKS. */
  publishedAt: string;
  /** When it started signing. */
  promotedAt: string | null;
  /** When it stopped signing. */
  retiredAt: string | null;
  /** When it leaves the JWKS (retiring keys). */
  withdrawAt: string | null;
}

export interface KeyRing {
  keys: RingKey[];
  /** Incremented on every write; writes are conditional on it. */
  revision: number;
}

export interface KeyRingStore {
  /** Strongly consistent. `undefined` before the first key. */
  get(): Promise<KeyRing | undefined>;
  /**
   * Writes the ring if its revision is still `expectedRevision` (`null`: not created yet) and returns it
   * as written. Throws `ConditionFailedError` when someone else wrote in between.
   */
  put(keys: RingKey[], expectedRevision: number | null): Promise<KeyRing>;
}

export const EMPTY_RING: KeyRing = { keys: [], revision: 0 };

/** Whether a key is in the JWKS at `now`: next, current, and retiring until its grace period ends. */
export function isPublished(key: RingKey, now: number): boolean {
  if (key.status === 'next' || key.status === 'current') return true;
  return key.status === 'retiring' && key.withdrawAt !== null && Date.parse(key.withdrawAt) > now;
}

export function currentKey(ring: KeyRing, alg: SigningAlgorithm): RingKey | undefined {
  return ring.keys.find((key) => key.alg === alg && key.status === 'current');
}

export function nextKey(ring: KeyRing, alg: SigningAlgorithm): RingKey | undefined {
  return ring.keys.find((key) => key.alg === alg && key.status === 'next');
}

/** The ring with `key` signing for its algorithm from `now`, the previous current key retiring until `withdrawAt`. */
export function promoted(ring: KeyRing, kid: string, now: string, withdrawAt: string): RingKey[] {
  const promotedKey = ring.keys.find((key) => key.kid === kid);
  return ring.keys.map((key) => {
    if (key.kid === kid) return { ...key, status: 'current', promotedAt: now };
    if (promotedKey && key.alg === promotedKey.alg && key.status === 'current') return { ...key, status: 'retiring', retiredAt: now, withdrawAt };
    return key;
  });
}

/** The ring with every retiring key whose grace period ended at `now` marked withdrawn; and those keys. */
export function withdrawDue(ring: KeyRing, now: number): { keys: RingKey[]; withdrawn: RingKey[] } {
  const withdrawn: RingKey[] = [];
  const keys = ring.keys.map((key) => {
    if (key.status !== 'retiring' || isPublished(key, now)) return key;
    const done: RingKey = { ...key, status: 'withdrawn' };
    withdrawn.push(done);
    return done;
  });
  return { keys, withdrawn };
}
