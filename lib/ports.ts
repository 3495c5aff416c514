/**
 * The ports the use cases depend on (docs/design.md "Ports and adapters"). In the cloud they are DynamoDB and
 * Secrets Manager; in local mode the same DynamoDB adapter talks to an embedded dynalite and the vault is
 * an encrypted file.
 */
import type { GrantIdentity, ProfileRecord, ProfileStatus } from './profile.js';

/** Milliseconds since the epoch. Injected so that no test sleeps for time to pass. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

/** A pending authorization: one `authorize-url` call, consumed by one callback. */
export interface PendingAuthorization {
  /** The `state` value sent to the authorization server. Stored only as a hash by the adapter's key. */
  state: string;
  profileId: string;
  /** PKCE code verifier (RFC 7636 §4.1), `null` when the profile has `usePkce: false`. */
  codeVerifier: string | null;
  redirectUri: string;
  createdAt: string;
  expiresAt: string;
  /**
   * `authorizationBinding` of the profile when the authorization started: the callback refuses it when
   * the profile's endpoints or client changed since. Absent on items written before the binding existed,
   * which are refused too.
   */
  grant?: string;
}

/** A token set as the vault keeps it. Never returned whole by any route. */
export interface TokenSet {
  accessToken: string;
  /** Normalised: `Bearer` or `DPoP`. */
  tokenType: string;
  expiresAt: string;
  refreshToken: string | null;
  scope: string | null;
  obtainedAt: string;
  /**
   * The revocation endpoint of the server that issued the set, recorded when it was obtained (`null`: it
   * had none). Tokens are revoked there and nowhere else, whatever the profile says later. Absent on sets
   * stored before it was recorded.
   */
  revocationEndpoint?: string | null;
}

export class ConditionFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConditionFailedError';
  }
}

export interface StatusUpdate {
  status: ProfileStatus;
  /** The vault version the new status describes; `undefined` keeps the current pointer. */
  tokenVersion?: string | null;
  /** A sealed token set waiting to be written to the vault (`null` clears it; `undefined` keeps it). */
  stagedTokens?: string | null;
  /** The vault version a holder is about to write (`null` clears it; `undefined` keeps it). */
  pendingVersion?: string | null;
  /** When a grant was last started (ISO-8601; `undefined` keeps it): bounds refreshes by token requests. */
  lastGrantAt?: string;
}

/**
 * What a status write is fenced by. `{ owner, then }`: only while `owner` holds an unexpired lease (so a
 * holder whose lease expired cannot overwrite a newer result), keeping the lease or releasing it in the
 * same write. `'break'`: removes any lease and the version its holder was about to write, so that holder's
 * commit fails and its token set is never adopted (a person's new authorization wins).
 */
export type LeaseFence = { owner: string; then: 'keep' | 'release' } | 'break';

export interface StatusUpdateOptions {
  now: string;
  /** Conditional on the revision read. */
  expectedRevision?: number;
  fence?: LeaseFence;
  /**
   * Conditional on the profile still having this grant identity (`grantIdentity`: grant type, client id,
   * token endpoint), so tokens obtained for a client that a concurrent PUT replaced are never committed.
   */
  sameGrant?: GrantIdentity;
}

export interface ProfileStore {
  /** Strongly consistent read. */
  getProfile(id: string): Promise<ProfileRecord | undefined>;
  listProfiles(): Promise<ProfileRecord[]>;
  /**
   * Creates (`expectedRevision` `null`) or replaces (`expectedRevision` = the revision read) a profile,
   * stored with `grant`, the grant identity of its configuration (`grantIdentity(record.config)`), which
   * `updateStatus({ sameGrant })` compares.
   * Throws `ConditionFailedError` when someone else wrote in between.
   */
  putProfile(record: ProfileRecord, expectedRevision: number | null, grant: GrantIdentity): Promise<void>;
  /**
   * Records a new status (and token pointer) on an existing profile; conditional on `expectedRevision`
   * when given. Returns the record as written. Throws `ConditionFailedError` when the profile is gone or
   * changed.
   */
  updateStatus(id: string, update: StatusUpdate, options: StatusUpdateOptions): Promise<ProfileRecord>;
  /**
   * Takes the profile's refresh lease (a conditional write: free, or expired at `now`) and returns the
   * record as it is after taking it, so the holder re-checks the need on fresh data. `undefined` when
   * another holder has it or the profile is gone. `pendingVersion`, when given, is recorded in the same
   * write as the version the holder may write, unless a previous holder's is still recorded (the record
   * returned says which).
   */
  acquireLease(id: string, owner: string, options: { now: number; durationMs: number; pendingVersion?: string }): Promise<ProfileRecord | undefined>;
  /**
   * Releases the lease if `owner` still holds it; also forgets `pendingVersion` when that is the version
   * recorded (the holder's own, never written).
   */
  releaseLease(id: string, owner: string, options?: { pendingVersion?: string }): Promise<void>;
  /** Profiles whose `status.nextRefreshAt` is at or before `dueAt`, earliest first, without a table scan. */
  listDueProfiles(dueAt: string): Promise<ProfileRecord[]>;
  /**
   * First step of a deletion: marks the profile as being deleted and breaks its lease, so no refresh or
   * callback in flight can commit (nor take a new lease) while its secrets are removed. `false` when the
   * profile does not exist.
   */
  markDeleting(id: string): Promise<boolean>;
  /** Returns whether a profile was deleted. */
  deleteProfile(id: string): Promise<boolean>;

  putPendingAuthorization(pending: PendingAuthorization): Promise<void>;
  /** The pending authorization for `state`, expired or not: the caller checks `expiresAt`. */
  getPendingAuthorization(state: string): Promise<PendingAuthorization | undefined>;
  /**
   * Uses up the pending authorization for `state`, expired or not, and answers it: exactly one caller per
   * state gets it (a conditional delete), every other `undefined`.
   */
  consumePendingAuthorization(state: string): Promise<PendingAuthorization | undefined>;
  deletePendingAuthorizations(profileId: string): Promise<number>;
}

export interface SecretVault {
  putClientSecret(profileId: string, clientSecret: string): Promise<void>;
  getClientSecret(profileId: string): Promise<string | undefined>;
  /**
   * Writes a new version and returns its id. `options.requestToken` (32 to 64 characters) makes the write
   * idempotent: it becomes the version id, the same token with the same token set again adds no version,
   * and the same token with a different token set is refused.
   */
  putTokenSet(profileId: string, tokens: TokenSet, options?: { requestToken?: string }): Promise<string>;
  /** A given version, or the current one. */
  getTokenSet(profileId: string, version?: string): Promise<TokenSet | undefined>;
  /**
   * Removes the client secret of a profile that no longer uses one (its token set stays); an absent
   * secret is not an error.
   */
  deleteClientSecret(profileId: string): Promise<void>;
  /**
   * Removes the token set of a profile (its client secret stays): a grant that finished after the profile
   * was deleted re-created it. An absent secret is not an error.
   */
  deleteTokenSet(profileId: string): Promise<void>;
  /** Removes the client secret and token set of a profile; absent secrets are not an error. */
  deleteProfileSecrets(profileId: string): Promise<void>;
}
