/**
 * The OAuth profile: what an administrator registers (docs/api.md "PUT /profiles/{id}"), what the broker records
 * about it, and the view every route returns. The client secret is write-only: it goes to the vault and
 * only `hasClientSecret` is ever shown.
 */
import { createHash } from 'node:crypto';
import { invalidRequest } from './errors.js';
import type { ClientAssertionAudience } from './keys/client-assertion.js';
import type { SigningAlgorithm } from './keys/signer.js';

export const PROFILE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** docs/api.md: request bodies are at most 16 KiB. */
export const MAX_BODY_BYTES = 16 * 1024;

export const GRANT_TYPES = ['authorization_code', 'client_credentials'] as const;
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export const PROFILE_STATES = ['authorization_required', 'ready', 'refresh_failing', 'expired', 'error'] as const;

export type GrantType = (typeof GRANT_TYPES)[number];
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
export type ProfileState = (typeof PROFILE_STATES)[number];

/**
 * Authorization request parameters the broker sets itself (RFC 6749 §4.1.1, RFC 7636 §4.3); a profile may
 * not override them.
 */
export const RESERVED_AUTHORIZATION_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;

/** Token request parameters the broker sets itself (RFC 6749 §4.1.3, §6, §4.4.2). */
export const RESERVED_TOKEN_PARAMS = [
  'grant_type',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'client_id',
  'client_secret',
] as const;

/** The stored, non-secret configuration of a profile. Absent optional values are `null`. */
export interface ProfileConfig {
  grantType: GrantType;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  issuer: string | null;
  clientId: string;
  clientAuthMethod: ClientAuthMethod;
  scope: string | null;
  authorizationParams: Record<string, string>;
  tokenParams: Record<string, string>;
  usePkce: boolean;
  defaultTokenLifetimeSeconds: number;
  revocationUrl: string | null;
  /** `private_key_jwt` only: the JWS algorithm of the client assertions (default ES256; docs/keys.md). */
  clientAssertionAlgorithm?: SigningAlgorithm;
  /** `private_key_jwt` only: the assertion's `aud`, the server's issuer (default) or its token endpoint. */
  clientAssertionAudience?: ClientAssertionAudience;
}

export interface LastError {
  /** The server's OAuth error code, or `network_error`, `server_error`, `invalid_response`, `no_refresh_token`. */
  code: string;
  message: string;
  at: string;
}

export interface ProfileStatus {
  state: ProfileState;
  accessTokenExpiresAt: string | null;
  hasRefreshToken: boolean;
  lastRefreshAt: string | null;
  lastAuthorizedAt: string | null;
  lastError: LastError | null;
  consecutiveFailures: number;
  nextRefreshAt: string | null;
}

/** What the `ProfileStore` keeps for a profile. */
export interface ProfileRecord {
  id: string;
  config: ProfileConfig;
  hasClientSecret: boolean;
  status: ProfileStatus;
  /** The vault version of the token set the status describes; `null` when no token is held. */
  tokenVersion: string | null;
  createdAt: string;
  updatedAt: string;
  /** Incremented on every write; writes that read first are conditional on it. */
  revision: number;
  /** The refresh lease (one refresh at a time per profile), when someone holds or held it. */
  lease: Lease | null;
  /** A token set obtained while the vault was failing, sealed; written to the vault on the next run. */
  stagedTokens: string | null;
  /**
   * The vault version the lease holder is about to write, recorded before it asks the token endpoint. If
   * its commit is lost, the next holder adopts that version when the vault has it: the set holding the
   * rotated refresh token is never forgotten, and no other set is ever mistaken for it.
   */
  pendingVersion?: string | null;
  /** Set by the first step of a DELETE; such a profile is treated as gone. */
  deleting?: boolean;
  /**
   * When a holder of the lease last started a grant at the token endpoint (ISO-8601), whatever came of
   * it: across all instances, token requests start at most one refresh per profile per
   * max(30 s, 10 % of the token's lifetime) (docs/api.md).
   */
  lastGrantAt?: string;
}

export interface Lease {
  owner: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** The key a `private_key_jwt` profile signs with (docs/keys.md). */
export interface SigningKeyView {
  /** The `kid` of its assertions, which is also the key's RFC 7638 thumbprint. */
  kid: string;
  alg: SigningAlgorithm;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key. */
  thumbprint: string;
  /** Thumbprints of the key's certificate, as Entra ID shows them (`x5t`: SHA-1, base64url). */
  certificateThumbprint: string;
  /** The public JWKS to register at the server as the client's `jwks_uri`. */
  jwksUri: string;
}

export interface ProfileView extends ProfileConfig {
  id: string;
  hasClientSecret: boolean;
  /** `private_key_jwt` profiles: the key their assertions are signed with. */
  signingKey?: SigningKeyView | null;
  callbackUrl: string;
  status: ProfileStatus;
  createdAt: string;
  updatedAt: string;
}

/** The status of a new profile, or of one whose tokens were discarded (lib/lifecycle). */
export { newProfileStatus as initialStatus } from './lifecycle/transitions.js';

/** A profile id that passed `assertProfileId`: use cases take only these. */
export type ProfileId = string & { readonly __validated: 'ProfileId' };

export function assertProfileId(id: string | undefined): ProfileId {
  if (id === undefined || !PROFILE_ID_PATTERN.test(id)) {
    throw invalidRequest(
      'The profile id must be 1 to 64 characters of lower-case letters, digits, "-" or "_", starting with a letter or digit.',
      'bad_profile_id',
    );
  }
  return id as ProfileId;
}

export function toView(record: ProfileRecord, callbackUrl: string): ProfileView {
  return {
    id: record.id,
    ...record.config,
    hasClientSecret: record.hasClientSecret,
    callbackUrl,
    status: record.status,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/**
 * Whether the tokens of a profile stay valid when its configuration changes from `before` to `after`.
 * docs/api.md: changing `clientId` or `tokenUrl` discards the tokens. The token endpoint compared is the
 * effective one: `tokenUrl` when set, else the one discovered from `issuer` (so a new issuer discards
 * the tokens only when it is where they come from). In addition to docs/api.md, a change of `grantType`
 * discards them too: a token obtained with another grant is not this grant's.
 */
export function tokensSurviveChange(before: ProfileConfig, after: ProfileConfig): boolean {
  return grantIdentity(before) === grantIdentity(after);
}

/** What tokens are bound to, as one comparable value (`grantIdentity`); stored beside the profile. */
export type GrantIdentity = string & { readonly __grantIdentity: true };

/** What tokens are bound to: the grant type, the client and the effective token endpoint. */
export function grantIdentity(config: ProfileConfig): GrantIdentity {
  return JSON.stringify([config.grantType, config.clientId, tokenEndpointIdentity(config)]) as GrantIdentity;
}

function tokenEndpointIdentity(config: ProfileConfig): string {
  return config.tokenUrl !== null ? `tokenUrl ${normalizedUrl(config.tokenUrl)}` : `issuer ${normalizedUrl(config.issuer ?? '')}`;
}

/** The same URL written differently (`HTTPS://AS.example:443/token`) is the same endpoint. */
function normalizedUrl(value: string): string {
  try {
    return new URL(value).href;
  } catch {
    return value;
  }
}

/** The fields naming the authorization server's endpoints, whose origins the stored credentials are bound to. */
export const ENDPOINT_FIELDS = ['tokenUrl', 'issuer', 'authorizationUrl', 'revocationUrl'] as const;
export type EndpointField = (typeof ENDPOINT_FIELDS)[number];

/** Whether a client authentication method sends the stored client secret (docs/api.md "for methods that use one"). */
export function usesClientSecret(method: string): boolean {
  return method === 'client_secret_basic' || method === 'client_secret_post';
}

/**
 * The endpoint fields whose origin an edit from `before` to `after` changes, a field given where there
 * was none included (docs/api.md: such an edit must carry `clientSecret`, so that a stored secret is never
 * sent to a host it was not given for). A field removed moves nothing: what remains was given with the secret.
 */
export function movedEndpoints(before: ProfileConfig, after: ProfileConfig): EndpointField[] {
  return ENDPOINT_FIELDS.filter((field) => {
    const next = after[field];
    return next !== null && originOf(next) !== (before[field] === null ? null : originOf(before[field]));
  });
}

/** The configuration fields an edit changed that decide where credentials go or whose they are, for status events. */
export function changedGrantFields(before: ProfileConfig, after: ProfileConfig): string[] {
  const fields = ['grantType', 'clientId', 'clientAuthMethod', ...ENDPOINT_FIELDS] as const;
  return fields.filter((field) => {
    const a = before[field];
    const b = after[field];
    return typeof a === 'string' && typeof b === 'string' && ENDPOINT_FIELDS.includes(field as EndpointField) ? normalizedUrl(a) !== normalizedUrl(b) : a !== b;
  });
}

/**
 * What a pending authorization is bound to: the grant type, the client and every endpoint (docs/api.md: a
 * pending authorization is refused when the profile's endpoints or client changed after it was started).
 * A SHA-256 fingerprint, so that the stored item stays small.
 */
export function authorizationBinding(config: ProfileConfig): string {
  const parts = [
    config.grantType,
    config.clientId,
    config.clientAuthMethod,
    ...ENDPOINT_FIELDS.map((field) => (config[field] === null ? null : normalizedUrl(config[field]))),
  ];
  return createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('base64url');
}

function originOf(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    return value;
  }
}
