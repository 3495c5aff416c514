/**
 * The signing keys' use cases (docs/keys.md): the public JWKS, the key each `private_key_jwt` profile signs
 * with, its client assertions, and rotation (publish a next key, promote it, withdraw the old one after a
 * grace period), each step signalled. One key ring per environment, behind the `KeyRingStore` port; keys
 * from a `KeyProvider` (KMS in the cloud, the file vault in local mode).
 */
import type * as oauth from 'oauth4webapi';
import { conflict, invalidRequest, type BrokerError } from '../errors.js';
import type { Log } from '../logger.js';
import { ConditionFailedError, type Clock } from '../ports.js';
import type { ProfileConfig, SigningKeyView } from '../profile.js';
import { certificateThumbprints, selfSignedCertificate, toPem } from './certificate.js';
import { privateKeyJwt, type AssertionHeader } from './client-assertion.js';
import { LoggedSigningKeyEvents, type SigningKeyChange, type SigningKeyEvents } from './events.js';
import {
  currentKey,
  EMPTY_RING,
  isPublished,
  nextKey,
  promoted,
  withdrawDue,
  type KeyRing,
  type KeyRingStore,
  type KeySource,
  type RingKey,
} from './key-ring.js';
import { keyRefusal, type KeyProvider } from './key-providers.js';
import { DEFAULT_SIGNING_ALGORITHM, jwkThumbprint, publishedJwk, type PublishedJwk, type Signer, type SigningAlgorithm } from './signer.js';

/** `GET /jwks` answers `Cache-Control: public, max-age=` this (docs/api.md). */
export const JWKS_MAX_AGE_SECONDS = 300;
/** How long an instance reuses the ring it read for signing and for the JWKS. */
export const RING_CACHE_MS = 30_000;
/**
 * A next key is promoted only after it has been published this long: the JWKS's max-age plus the ring cache
 * of the instance serving it, so that every server that honours the cache headers has seen it.
 */
export const MIN_PUBLISHED_BEFORE_PROMOTION_SECONDS = JWKS_MAX_AGE_SECONDS + RING_CACHE_MS / 1000;
/** How long a replaced key stays in the JWKS by default: assertions and caches in flight still verify. */
export const DEFAULT_GRACE_SECONDS = 24 * 60 * 60;
export const MIN_GRACE_SECONDS = JWKS_MAX_AGE_SECONDS;
export const MAX_GRACE_SECONDS = 30 * 24 * 60 * 60;
/** Validity of a key's self-signed certificate: rotate keys at least this often for servers that check it. */
export const CERTIFICATE_VALIDITY_DAYS = 730;

export interface SigningKeysDependencies {
  ring: KeyRingStore;
  provider: KeyProvider;
  /** The broker's clock (rotation steps, grace periods). */
  clock: Clock;
  logger: Log;
  events?: SigningKeyEvents;
  /** The public `GET /jwks` URL, shown to administrators. */
  jwksUri: string;
  /** Wall-clock time of client assertions, checked by servers against theirs. Default `Date.now`. */
  assertionClock?: Clock;
}

/** A key as administrators see it (`GET /keys`): public data only. */
export interface KeyView {
  kid: string;
  alg: SigningAlgorithm;
  status: RingKey['status'];
  /** The KMS key ARN, or `local`. */
  key: string;
  thumbprint: string;
  certificateThumbprint: string;
  publishedAt: string;
  promotedAt: string | null;
  retiredAt: string | null;
  withdrawAt: string | null;
  /** Whether `GET /jwks` lists it now. */
  published: boolean;
}

export interface KeyRingView {
  jwksUri: string;
  keys: KeyView[];
}

/** A key with what a server needs to register it: the JWK, and a certificate for servers that want one. */
export interface KeyMaterial {
  kid: string;
  alg: SigningAlgorithm;
  status: RingKey['status'];
  thumbprint: string;
  jwk: PublishedJwk;
  certificatePem: string;
  x5t: string;
  'x5t#S256': string;
}

export interface ProfileKeyMaterial {
  profileId: string;
  clientId: string;
  jwksUri: string;
  /** The key the profile signs with now. */
  current: KeyMaterial;
  /** The key it will sign with after the next promotion: register it too before then. */
  next: KeyMaterial | null;
}

const keyName = (source: KeySource) => (source.kind === 'kms' ? source.keyArn : 'local');

export class SigningKeys {
  readonly #d: SigningKeysDependencies;
  readonly #events: SigningKeyEvents;
  #cached: { ring: KeyRing; at: number } | undefined;

  constructor(deps: SigningKeysDependencies) {
    this.#d = deps;
    this.#events = deps.events ?? new LoggedSigningKeyEvents(deps.logger);
  }

  get jwksUri(): string {
    return this.#d.jwksUri;
  }

  // -------------------------------------------------------------------------------------------------
  // Publishing
  // -------------------------------------------------------------------------------------------------

  /** `GET /jwks`: the public keys that are next, current or retiring within their grace period. */
  async jwks(): Promise<{ keys: PublishedJwk[] }> {
    const ring = await this.#ring();
    const now = this.#d.clock();
    return { keys: ring.keys.filter((key) => isPublished(key, now)).map((key) => publishedJwk(key.publicJwk, key.alg)) };
  }

  /** The `signingKey` of a profile view: `undefined` for other methods, `null` while it has no key. */
  async describe(config: ProfileConfig): Promise<SigningKeyView | null | undefined> {
    if (config.clientAuthMethod !== 'private_key_jwt') return undefined;
    const key = currentKey(await this.#ring(), algOf(config));
    if (!key) return null;
    return {
      kid: key.kid,
      alg: key.alg,
      thumbprint: jwkThumbprint(key.publicJwk),
      certificateThumbprint: certificateThumbprints(Buffer.from(key.certificate, 'base64')).x5t,
      jwksUri: this.#d.jwksUri,
    };
  }

  /** `GET /profiles/{id}/signing-key`: the JWK and certificate of the profile's current and next keys. */
  async profileKey(profile: ProfileConfig & { id: string }): Promise<ProfileKeyMaterial> {
    if (profile.clientAuthMethod !== 'private_key_jwt') {
      throw conflict(`Profile "${profile.id}" uses ${profile.clientAuthMethod}, not private_key_jwt: it signs nothing.`, 'not_private_key_jwt');
    }
    const alg = algOf(profile);
    const current = await this.ensureCurrent(alg);
    const next = nextKey(await this.#ring(), alg);
    return { profileId: profile.id, clientId: profile.clientId, jwksUri: this.#d.jwksUri, current: material(current), next: next ? material(next) : null };
  }

  // -------------------------------------------------------------------------------------------------
  // Signing
  // -------------------------------------------------------------------------------------------------

  /**
   * The key that signs `alg` assertions, made (local) or taken from the configured keys (KMS) when there is
   * none yet. Refusals are the contract's errors (400 when no such key can be had) and change nothing.
   */
  async ensureCurrent(alg: SigningAlgorithm): Promise<RingKey> {
    // No keys configured: the provider's refusal (400, naming BROKER_SIGNING_KEYS), without reading a ring.
    if (this.#d.provider.kind === 'none') await this.#d.provider.create(alg, EMPTY_RING, {});
    for (let attempt = 0; attempt < 3; attempt++) {
      const ring = attempt === 0 ? await this.#ring() : await this.#ring({ fresh: true });
      const key = currentKey(ring, alg);
      if (key) return key;
      if (attempt === 0) continue; // re-read fresh before creating
      const entry = await this.#newKey(alg, ring, {}, 'current');
      try {
        await this.#write([...ring.keys, entry], ring);
      } catch (error) {
        // Another instance made the first key at the same time: use its key, forget ours.
        if (!(error instanceof ConditionFailedError)) throw error;
        await this.#d.provider.discard(entry);
        continue;
      }
      this.#d.logger.info('signing key created', { kid: entry.kid, alg, key: keyName(entry.source) });
      await this.#signal({ step: 'published', kid: entry.kid, alg, key: keyName(entry.source) });
      await this.#signal({ step: 'promoted', kid: entry.kid, alg, key: keyName(entry.source) });
      return entry;
    }
    throw conflict('The key ring was changed by other requests at the same time; retry.', 'concurrent_update');
  }

  /** The signer of the current key for `alg` and the header parameters of its assertions. */
  async signerFor(alg: SigningAlgorithm): Promise<{ signer: Signer; header: AssertionHeader }> {
    const key = await this.ensureCurrent(alg);
    const signer = await this.#d.provider.signer(key);
    return { signer, header: certificateThumbprints(Buffer.from(key.certificate, 'base64')) };
  }

  /** The `ClientAuth` of a `private_key_jwt` profile (plugged into `lib/oauth.ts` through `OAuthOptions.clientAssertion`). */
  readonly clientAuth = (config: ProfileConfig): oauth.ClientAuth =>
    privateKeyJwt(config, { signer: () => this.signerFor(algOf(config)), now: this.#d.assertionClock ?? Date.now });

  // -------------------------------------------------------------------------------------------------
  // Rotation
  // -------------------------------------------------------------------------------------------------

  /** `GET /keys`. */
  async list(): Promise<KeyRingView> {
    return this.#view(await this.#ring({ fresh: true }));
  }

  /** `POST /keys/rotate`: a next key for `alg`, published now, signing only once promoted. */
  async rotate(request: { alg?: SigningAlgorithm; keyArn?: string }): Promise<KeyRingView> {
    const alg = request.alg ?? DEFAULT_SIGNING_ALGORITHM;
    const { ring } = await this.#sweep();
    const pending = nextKey(ring, alg);
    if (pending) {
      throw conflict(
        `A next ${alg} key (${pending.kid}) is already published since ${pending.publishedAt}: promote it (POST /keys/promote) or withdraw it (POST /keys/withdraw with its kid) first.`,
        'next_key_exists',
      );
    }
    const entry = await this.#newKey(alg, ring, request.keyArn !== undefined ? { keyArn: request.keyArn } : {}, 'next');
    const written = await this.#writeOrConflict([...ring.keys, entry], ring, () => this.#d.provider.discard(entry));
    await this.#signal({ step: 'published', kid: entry.kid, alg, key: keyName(entry.source) });
    return this.#view(written);
  }

  /**
   * `POST /keys/promote`: the next key signs from now; the current one stays published for `graceSeconds`
   * (default a day). Refused while the next key has been published for less than the JWKS's cache time.
   */
  async promote(request: { alg?: SigningAlgorithm; graceSeconds?: number }): Promise<KeyRingView> {
    const alg = request.alg ?? DEFAULT_SIGNING_ALGORITHM;
    const graceSeconds = request.graceSeconds ?? DEFAULT_GRACE_SECONDS;
    const { ring } = await this.#sweep();
    const next = nextKey(ring, alg);
    if (!next) throw conflict(`There is no next ${alg} key to promote: publish one first with POST /keys/rotate.`, 'no_next_key');
    const now = this.#d.clock();
    const ready = Date.parse(next.publishedAt) + MIN_PUBLISHED_BEFORE_PROMOTION_SECONDS * 1000;
    if (now < ready) {
      throw conflict(
        `The next ${alg} key was published ${Math.floor((now - Date.parse(next.publishedAt)) / 1000)} s ago; servers may cache the JWKS for ${JWKS_MAX_AGE_SECONDS} s, ` +
          `so it can be promoted from ${new Date(ready).toISOString()} on. Servers that register a certificate need the next key's certificate first (GET /profiles/{id}/signing-key).`,
        'next_key_too_new',
      );
    }
    const old = currentKey(ring, alg);
    const at = new Date(now).toISOString();
    const withdrawAt = new Date(now + graceSeconds * 1000).toISOString();
    const written = await this.#writeOrConflict(promoted(ring, next.kid, at, withdrawAt), ring);
    await this.#signal({ step: 'promoted', kid: next.kid, alg, key: keyName(next.source) });
    if (old) await this.#signal({ step: 'retiring', kid: old.kid, alg, key: keyName(old.source), withdrawAt });
    return this.#view(written);
  }

  /**
   * `POST /keys/withdraw`: removes from the JWKS the retiring keys whose grace period ended (they already
   * left the JWKS at that moment; this records it, signals it and forgets local private keys), or, with a
   * `kid`, a retiring or next key at once (a key suspected compromised, a rotation abandoned).
   */
  async withdraw(request: { kid?: string }): Promise<KeyRingView> {
    let { ring } = await this.#sweep();
    if (request.kid !== undefined) {
      const key = ring.keys.find((k) => k.kid === request.kid);
      if (!key) throw invalidRequest(`No key with kid "${request.kid}" is in the key ring (GET /keys lists them).`, 'unknown_kid');
      if (key.status === 'current') {
        throw conflict(`Key ${key.kid} signs ${key.alg} assertions now: rotate and promote another key before withdrawing it.`, 'key_is_current');
      }
      if (key.status === 'withdrawn') return this.#view(ring);
      const withdrawn: RingKey = { ...key, status: 'withdrawn', withdrawAt: new Date(this.#d.clock()).toISOString() };
      ring = await this.#writeOrConflict(ring.keys.map((k) => (k.kid === key.kid ? withdrawn : k)), ring);
      await this.#afterWithdrawal([withdrawn]);
    }
    return this.#view(ring);
  }

  /**
   * Records the withdrawal of retiring keys whose grace period ended (run by the scheduled job, so that
   * withdrawals are signalled and local private keys forgotten without a command). Reads the cached ring
   * and writes only when something is due; returns how many keys were withdrawn.
   */
  async sweepDue(): Promise<number> {
    if (this.#d.provider.kind === 'none') return 0;
    if (withdrawDue(await this.#ring(), this.#d.clock()).withdrawn.length === 0) return 0;
    return (await this.#sweep()).withdrawn;
  }

  // -------------------------------------------------------------------------------------------------

  /** The ring as stored, with the retiring keys whose grace period ended marked withdrawn (and signalled). */
  async #sweep(): Promise<{ ring: KeyRing; withdrawn: number }> {
    const ring = await this.#ring({ fresh: true });
    const { keys, withdrawn } = withdrawDue(ring, this.#d.clock());
    if (withdrawn.length === 0) return { ring, withdrawn: 0 };
    const written = await this.#writeOrConflict(keys, ring);
    await this.#afterWithdrawal(withdrawn);
    return { ring: written, withdrawn: withdrawn.length };
  }

  async #afterWithdrawal(keys: RingKey[]): Promise<void> {
    for (const key of keys) {
      await this.#d.provider.discard(key);
      await this.#signal({ step: 'withdrawn', kid: key.kid, alg: key.alg, key: keyName(key.source) });
    }
  }

  /** A new ring entry for a key from the provider, with its self-signed certificate (one signature). */
  async #newKey(alg: SigningAlgorithm, ring: KeyRing, options: { keyArn?: string }, status: 'current' | 'next'): Promise<RingKey> {
    const { source, signer } = await this.#d.provider.create(alg, ring, options);
    const now = this.#d.clock();
    let certificate: Buffer;
    try {
      certificate = await selfSignedCertificate(signer, {
        commonName: `oauth-broker ${signer.kid}`,
        notBefore: new Date(now - 5 * 60 * 1000),
        notAfter: new Date(now + CERTIFICATE_VALIDITY_DAYS * 24 * 60 * 60 * 1000),
      });
    } catch (error) {
      await this.#d.provider.discard({ kid: signer.kid }).catch(() => undefined);
      // The key could be read but not sign its certificate (kms:Sign not granted, key disabled meanwhile).
      throw keyRefusal(error);
    }
    const at = new Date(now).toISOString();
    return {
      kid: signer.kid,
      alg,
      status,
      source,
      publicJwk: signer.publicJwk,
      certificate: certificate.toString('base64'),
      publishedAt: at,
      promotedAt: status === 'current' ? at : null,
      retiredAt: null,
      withdrawAt: null,
    };
  }

  async #ring(options: { fresh?: boolean } = {}): Promise<KeyRing> {
    // Without signing keys there is no ring to read (and the functions may not read its item).
    if (this.#d.provider.kind === 'none') return EMPTY_RING;
    const now = Date.now();
    if (!options.fresh && this.#cached && now - this.#cached.at < RING_CACHE_MS) return this.#cached.ring;
    const ring = (await this.#d.ring.get()) ?? EMPTY_RING;
    this.#cached = { ring, at: now };
    return ring;
  }

  async #write(keys: RingKey[], read: KeyRing): Promise<KeyRing> {
    const written = await this.#d.ring.put(keys, read === EMPTY_RING ? null : read.revision);
    this.#cached = { ring: written, at: Date.now() };
    return written;
  }

  /** A write that lost a race is the contract's 409: nothing was changed, the caller retries. */
  async #writeOrConflict(keys: RingKey[], read: KeyRing, undo?: () => Promise<void>): Promise<KeyRing> {
    try {
      return await this.#write(keys, read);
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      await undo?.().catch(() => undefined);
      this.#cached = undefined;
      throw conflict('The key ring was changed by another request at the same time; read it again (GET /keys) and retry.', 'concurrent_update') as BrokerError;
    }
  }

  async #signal(change: SigningKeyChange): Promise<void> {
    await this.#events.keyChanged(change);
  }

  #view(ring: KeyRing): KeyRingView {
    const now = this.#d.clock();
    return {
      jwksUri: this.#d.jwksUri,
      keys: ring.keys.map((key) => ({
        kid: key.kid,
        alg: key.alg,
        status: key.status,
        key: keyName(key.source),
        thumbprint: jwkThumbprint(key.publicJwk),
        certificateThumbprint: certificateThumbprints(Buffer.from(key.certificate, 'base64')).x5t,
        publishedAt: key.publishedAt,
        promotedAt: key.promotedAt,
        retiredAt: key.retiredAt,
        withdrawAt: key.withdrawAt,
        published: isPublished(key, now),
      })),
    };
  }
}

function algOf(config: Pick<ProfileConfig, 'clientAssertionAlgorithm'>): SigningAlgorithm {
  return config.clientAssertionAlgorithm ?? DEFAULT_SIGNING_ALGORITHM;
}

function material(key: RingKey): KeyMaterial {
  const der = Buffer.from(key.certificate, 'base64');
  return {
    kid: key.kid,
    alg: key.alg,
    status: key.status,
    thumbprint: jwkThumbprint(key.publicJwk),
    jwk: publishedJwk(key.publicJwk, key.alg),
    certificatePem: toPem(der),
    ...certificateThumbprints(der),
  };
}
