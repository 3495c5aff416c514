/**
 * The ports the use cases depend on (DESIGN.md "Ports and adapters"). In the cloud they are DynamoDB and
 * Secrets Manager; in local mode the same DynamoDB adapter talks to an embedded dynalite and the vault is
 * an encrypted file.
 */
import type { ProfileRecord, ProfileStatus } from './profile.js';

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
}

export interface ProfileStore {
  /** Strongly consistent read. */
  getProfile(id: string): Promise<ProfileRecord | undefined>;
  listProfiles(): Promise<ProfileRecord[]>;
  /**
   * Creates (`expectedRevision` `null`) or replaces (`expectedRevision` = the revision read) a profile.
   * Throws `ConditionFailedError` when someone else wrote in between.
   */
  putProfile(record: ProfileRecord, expectedRevision: number | null): Promise<void>;
  /**
   * Records a new status (and token pointer) on an existing profile; conditional on `expectedRevision`
   * when given. Returns the record as written. Throws `ConditionFailedError` when the profile is gone or
   * changed.
   */
  updateStatus(id: string, update: StatusUpdate, options: { now: string; expectedRevision?: number }): Promise<ProfileRecord>;
  /** Returns whether a profile was deleted. */
  deleteProfile(id: string): Promise<boolean>;

  putPendingAuthorization(pending: PendingAuthorization): Promise<void>;
  /** The pending authorization for `state`, expired or not: the caller checks `expiresAt`. */
  getPendingAuthorization(state: string): Promise<PendingAuthorization | undefined>;
  /** Conditional delete: `true` for exactly one caller per state. */
  consumePendingAuthorization(state: string): Promise<boolean>;
  deletePendingAuthorizations(profileId: string): Promise<number>;
}

export interface SecretVault {
  putClientSecret(profileId: string, clientSecret: string): Promise<void>;
  getClientSecret(profileId: string): Promise<string | undefined>;
  /** Writes a new version and returns its id. */
  putTokenSet(profileId: string, tokens: TokenSet): Promise<string>;
  /** A given version, or the current one. */
  getTokenSet(profileId: string, version?: string): Promise<TokenSet | undefined>;
  /** Removes the client secret and token set of a profile; absent secrets are not an error. */
  deleteProfileSecrets(profileId: string): Promise<void>;
}
