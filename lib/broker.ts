/**
 * The broker's use cases (DESIGN.md "Shape"): profiles, authorization, tokens. Independent of Lambda:
 * the handlers in `lambdas/` and local mode call these with a store, a vault and a clock.
 */
import type * as oauth from 'oauth4webapi';
import {
  BrokerError,
  authorizationRequired,
  conflict,
  invalidRequest,
  notFound,
  temporarilyUnavailable,
} from './errors.js';
import type { Log } from './logger.js';
import { errorFields } from './logger.js';
import {
  AuthorizationResponseProblem,
  DiscoveryCache,
  OAuthFailure,
  buildAuthorizationRequest,
  classifyOAuthError,
  exchangeAuthorizationCode,
  redact,
  resolveAuthorizationServer,
  revocationServer,
  revokeToken,
  validateAuthorizationResponse,
  type Fetch,
} from './oauth.js';
import { ConditionFailedError, type Clock, type PendingAuthorization, type ProfileStore, type SecretVault, type TokenSet } from './ports.js';
import {
  assertProfileId,
  authorizationBinding,
  changedGrantFields,
  initialStatus,
  movedEndpoints,
  toView,
  tokensSurviveChange,
  usesClientSecret,
  type ProfileConfig,
  type ProfileRecord,
  type ProfileState,
  type ProfileStatus,
  type ProfileView,
} from './profile.js';
import { refreshPolicy, secondsUntilNextRefresh, type RefreshPolicy } from './schedule.js';
import { Refresher, readyStatus, refreshNotBefore, type RefreshOutcome, type RefreshRequest, type RefreshResult } from './refresh.js';
import { LoggedStatusEvents, type StatusEvents } from './events.js';
import { noMetrics, type BrokerMetrics } from './metrics.js';
import { openStagedTokens } from './staging.js';
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS } from './shared.js';
import type { UrlPolicy } from './endpoint-policy.js';
import type { SigningKeys } from './keys/signing-keys.js';

/** API.md: a pending authorization is valid 10 minutes. */
export const AUTHORIZATION_TTL_SECONDS = 600;
export { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS };
/** Revocation on DELETE must not hold up the deletion for long. */
const REVOCATION_TIMEOUT_MS = 3000;

export interface BrokerDependencies {
  store: ProfileStore;
  vault: SecretVault;
  clock: Clock;
  logger: Log;
  /** The public `GET /callback` URL registered at the authorization servers. */
  callbackUrl: string;
  fetch?: Fetch;
  /** Timeout of each request to an authorization server. */
  oauthTimeoutMs?: number;
  /**
   * Which endpoint URLs are accepted and asked (lib/endpoint-policy.ts), set by the composition root:
   * `cloud` (the default, for the Lambda functions) or `local` (`npm start`: loopback `http:` too).
   */
  urlPolicy?: UrlPolicy;
  refresh?: Partial<RefreshPolicy>;
  metrics?: BrokerMetrics;
  /** Where status changes are signalled (EventBridge in the cloud); logged when absent. */
  events?: StatusEvents;
  /** Injected so that tests never wait on real time (lease waits, vault retries, jitter). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Refresh lease duration and how long a token request waits for another instance's refresh. */
  leaseMs?: number;
  maxWaitMs?: number;
  /** The signing keys of `private_key_jwt` profiles (docs/keys.md); without them such profiles are refused. */
  signingKeys?: SigningKeys;
}

/** What one scheduled run did, counted by outcome. */
export interface RefreshRunSummary {
  due: number;
  attempted: number;
  outcomes: Partial<Record<RefreshOutcome | 'exception', number>>;
}

/** What the token endpoint returns (API.md "GET /profiles/{id}/token"). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_at: string;
  expires_in: number;
  scope: string;
}

/** The part of a token set the per-instance cache keeps: no refresh token. */
interface CachedToken {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  scope: string;
  version: string;
  /** When the profile was last read for this entry: the entry is trusted {@link TOKEN_CACHE_MS} from then. */
  checkedAt: number;
  obtainedAt: number;
  /** Before this moment a token request starts no refresh (`refreshNotBefore`); the held token is served. */
  refreshNotBefore: number;
}

/**
 * How long an instance serves a cached token without reading the profile again (docs/api.md): a deletion
 * or a token-discarding edit on another instance stops this one serving the old token within a minute.
 */
const TOKEN_CACHE_MS = 60_000;

/** A callback that cannot complete: shown to the person on an HTML error page. */
export class CallbackError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** The authorization server's OAuth error code, when it gave one (recorded as `lastError.code`). */
    readonly oauthError?: string,
  ) {
    super(message);
    this.name = 'CallbackError';
  }

  /** `lastError.code`: the server's OAuth error code, else the broker's reason. */
  get code(): string {
    return this.oauthError ?? this.reason;
  }
}

export class Broker {
  readonly #deps: BrokerDependencies;
  readonly #policy: RefreshPolicy;
  readonly #discovery = new DiscoveryCache();
  /** Per-instance token cache: a warm token request makes no AWS call (DESIGN.md "Scale and cost"). */
  readonly #tokens = new Map<string, CachedToken>();
  readonly #refresher: Refresher;
  readonly #metrics: BrokerMetrics;
  readonly #events: StatusEvents;

  constructor(deps: BrokerDependencies) {
    this.#deps = deps;
    this.#policy = refreshPolicy(deps.refresh);
    this.#metrics = deps.metrics ?? noMetrics;
    this.#events = deps.events ?? new LoggedStatusEvents(deps.logger);
    this.#refresher = new Refresher({
      store: deps.store,
      vault: deps.vault,
      clock: deps.clock,
      logger: deps.logger,
      events: this.#events,
      policy: this.#policy,
      oauth: this.#oauthOptions(),
      // Discovery failures arrive classified: unreachable, 5xx or 429 are passing; unusable metadata is an
      // invalid_configuration error.
      // The revocation endpoint too (best effort): it is recorded with every token set obtained.
      authorizationServer: (record) =>
        resolveAuthorizationServer(record.config, { ...this.#oauthOptions(), cache: this.#discovery, now: deps.clock(), needRevocation: true }),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
      ...(deps.maxWaitMs ? { maxWaitMs: deps.maxWaitMs } : {}),
      ...(deps.random ? { random: deps.random } : {}),
      revoke: (record, tokens, clientSecret) => this.#revoke(record, tokens, clientSecret),
    });
  }

  get callbackUrl(): string {
    return this.#deps.callbackUrl;
  }

  /** The signing keys (`GET /jwks`, `/keys`), when configured. */
  get signingKeys(): SigningKeys | undefined {
    return this.#deps.signingKeys;
  }

  // -------------------------------------------------------------------------------------------------
  // Profiles
  // -------------------------------------------------------------------------------------------------

  /** `PUT /profiles/{id}`: validates everything before anything is written. */
  async putProfile(id: string | undefined, body: string | null | undefined): Promise<{ created: boolean; view: ProfileView }> {
    const profileId = assertProfileId(id);
    // The schema library is loaded only here: the token path never parses a profile (cold start).
    const { parseProfileInput } = await import('./profile-input.js');
    const { config, clientSecret } = parseProfileInput(body, this.#deps.urlPolicy ?? 'cloud');
    const { store, vault, logger } = this.#deps;
    const existing = await store.getProfile(profileId);
    if (existing?.deleting) {
      throw conflict(`Profile "${profileId}" is being deleted; repeat DELETE /profiles/${profileId}, then create it again.`, 'deleting');
    }
    const hasClientSecret = usesClientSecret(config.clientAuthMethod) && (clientSecret !== undefined || existing?.hasClientSecret === true);
    if (usesClientSecret(config.clientAuthMethod) && !hasClientSecret) {
      throw invalidRequest(
        `clientSecret is required: the profile uses ${config.clientAuthMethod} and no client secret is stored yet.`,
        'client_secret_required',
      );
    }
    // docs/api.md: a stored client secret is only ever sent to the server it was given for. Whoever moves
    // an endpoint to another origin gives the secret again (an editor cannot read the stored one out).
    const moved = existing ? movedEndpoints(existing.config, config) : [];
    if (moved.length > 0 && usesClientSecret(config.clientAuthMethod) && clientSecret === undefined) {
      throw invalidRequest(
        `clientSecret is required in the same request when ${moved.join(', ')} ${moved.length > 1 ? 'move' : 'moves'} to another origin: ` +
          'the stored client secret is only ever sent to the server it was given for.',
        'client_secret_required_for_new_endpoint',
      );
    }
    // A private_key_jwt profile needs a key to sign with before it is stored (400 when none can be had).
    if (config.clientAuthMethod === 'private_key_jwt') await this.#requireSigningKeys(config).ensureCurrent(config.clientAssertionAlgorithm ?? 'ES256');
    const now = this.#now();
    const keepTokens = existing !== undefined && tokensSurviveChange(existing.config, config);
    const secretChanged = clientSecret !== undefined && (!existing?.hasClientSecret || (await vault.getClientSecret(profileId)) !== clientSecret);
    // Tokens the edit discards are revoked at the server that issued them, with the client they were
    // issued to: read before anything is written, revoked once the edit is stored.
    const discarded = existing && !keepTokens ? await this.#heldTokenSets(existing) : [];
    const previousSecret = discarded.length > 0 ? await this.#clientSecret(existing!) : undefined;
    const record: ProfileRecord = {
      id: profileId,
      config,
      hasClientSecret,
      status: keepTokens ? this.#statusAfterEdit(existing, now) : initialStatus(config.grantType, now),
      tokenVersion: keepTokens ? existing.tokenVersion : null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      revision: (existing?.revision ?? 0) + 1,
      // A refresh in flight keeps its lease while the tokens stay; when they are discarded its commit must
      // fail, so the lease goes too. A staged token set stays with the tokens it belongs to.
      lease: keepTokens ? existing.lease : null,
      stagedTokens: keepTokens ? existing.stagedTokens : null,
      ...(keepTokens && existing.pendingVersion ? { pendingVersion: existing.pendingVersion } : {}),
      // Refreshes stay bounded across edits: the server was asked when it was asked.
      ...(existing?.lastGrantAt ? { lastGrantAt: existing.lastGrantAt } : {}),
    };
    try {
      await store.putProfile(record, existing ? existing.revision : null);
    } catch (error) {
      if (error instanceof ConditionFailedError) {
        throw conflict(`Profile "${profileId}" was changed by another request at the same time; read it again and retry.`, 'concurrent_update');
      }
      throw error;
    }
    if (!keepTokens) this.#tokens.delete(profileId);
    for (const tokens of discarded) await this.#revoke(existing!, tokens, previousSecret);
    // The secret goes after the conditional write, so a request that lost a race (409) changes nothing. If
    // this write fails the request fails (500) and the same PUT, repeated, completes it.
    // An unchanged secret is not written again (Secrets Manager's write quota and version limit).
    if (secretChanged) await vault.putClientSecret(profileId, clientSecret!);
    const changed = existing ? [...changedGrantFields(existing.config, config), ...(secretChanged ? ['clientSecret'] : [])] : [];
    if (existing && changed.length > 0) {
      await this.#events.statusChanged({
        profileId,
        from: existing.status.state,
        to: record.status.state,
        lastError: record.status.lastError,
        changed,
        tokensDiscarded: discarded.length > 0,
      });
    }
    logger.info('profile saved', {
      profileId,
      created: existing === undefined,
      tokensDiscarded: discarded.length > 0,
      clientSecretChanged: secretChanged,
      ...(changed.length > 0 ? { changed } : {}),
    });
    return { created: existing === undefined, view: await this.#view(record) };
  }

  /**
   * A profile in `error` (the server rejected the client) that an administrator edits is given another
   * chance at once: due now, failures cleared. Anything else keeps its status.
   */
  #statusAfterEdit(existing: ProfileRecord, now: string): ProfileStatus {
    const status = existing.status;
    if (status.state !== 'error') return status;
    const expiresAt = status.accessTokenExpiresAt ? Date.parse(status.accessTokenExpiresAt) : NaN;
    const clientCredentials = existing.config.grantType === 'client_credentials';
    const state: ProfileState = existing.tokenVersion === null ? 'authorization_required' : expiresAt > Date.parse(now) ? 'ready' : 'expired';
    const due = clientCredentials || existing.tokenVersion !== null;
    return { ...status, state, lastError: null, consecutiveFailures: 0, nextRefreshAt: due ? now : null };
  }

  /** `GET /profiles/{id}`. */
  async getProfile(id: string | undefined): Promise<ProfileView> {
    return this.#view(await this.#requireProfile(assertProfileId(id)));
  }

  /** `GET /profiles`. */
  async listProfiles(): Promise<ProfileView[]> {
    const records = await this.#deps.store.listProfiles();
    return Promise.all(records.filter((record) => !record.deleting).map((record) => this.#view(record)));
  }

  /**
   * `DELETE /profiles/{id}`: first marks the profile as being deleted (breaking any lease, so no refresh or
   * callback in flight can commit), then removes pending authorizations, revokes the grant and removes the
   * secrets, and the profile last, so that a retry can finish a deletion that failed half-way.
   */
  async deleteProfile(id: string | undefined): Promise<void> {
    const profileId = assertProfileId(id);
    const { store, vault, logger } = this.#deps;
    const record = await this.#requireProfile(profileId, { deleting: 'include' });
    if (!(await store.markDeleting(profileId))) throw notFound(`Profile "${profileId}" does not exist.`);
    this.#tokens.delete(profileId);
    const pending = await store.deletePendingAuthorizations(profileId);
    await this.#revokeHeldGrant(record);
    await vault.deleteProfileSecrets(profileId);
    await store.deleteProfile(profileId);
    this.#tokens.delete(profileId);
    logger.info('profile deleted', { profileId, pendingAuthorizationsDeleted: pending });
  }

  /**
   * Best effort (RFC 7009 §2): revokes the refresh token, else the access token, of every set that may
   * hold the live grant, each at the revocation endpoint recorded with it. The outcome is logged, never thrown.
   */
  async #revokeHeldGrant(record: ProfileRecord): Promise<void> {
    try {
      const clientSecret = await this.#clientSecret(record);
      for (const tokens of await this.#heldTokenSets(record)) await this.#revoke(record, tokens, clientSecret);
    } catch (error) {
      this.#deps.logger.warn('token revocation failed', { profileId: record.id, ...errorFields(error) });
    }
  }

  /**
   * Every set that may hold a profile's live grant: a staged one (the vault was failing), one a holder
   * recorded as pending (its commit lost) and the one the profile points at; each refresh token once.
   */
  async #heldTokenSets(record: ProfileRecord): Promise<TokenSet[]> {
    if (record.tokenVersion === null) return [];
    const { vault } = this.#deps;
    const pointed = await vault.getTokenSet(record.id, record.tokenVersion);
    const pending = record.pendingVersion ? await vault.getTokenSet(record.id, record.pendingVersion) : undefined;
    const staged = pointed?.refreshToken && record.stagedTokens ? openStagedTokens(record.stagedTokens, pointed.refreshToken, record.id) : undefined;
    const seen = new Set<string>();
    const sets: TokenSet[] = [];
    for (const tokens of [staged, pending, pointed]) {
      if (!tokens) continue;
      const key = tokens.refreshToken ?? tokens.accessToken;
      if (seen.has(key)) continue;
      seen.add(key);
      sets.push(tokens);
    }
    return sets;
  }

  /**
   * Revokes the refresh token of `tokens`, else its access token (RFC 7009 §2.1), at the revocation
   * endpoint recorded with the set: tokens never go to an endpoint named after they were issued. A set
   * stored before endpoints were recorded is revoked at the profile's revocation endpoint only when that
   * is on the token endpoint's origin (the token endpoint cannot change without discarding the tokens).
   * Logged, never thrown.
   */
  async #revoke(record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined): Promise<void> {
    const { logger } = this.#deps;
    try {
      const endpoint = tokens.revocationEndpoint !== undefined ? tokens.revocationEndpoint : await this.#legacyRevocationEndpoint(record);
      if (!endpoint) {
        logger.info('token not revoked: no revocation endpoint', { profileId: record.id });
        return;
      }
      const as = revocationServer(record.config, endpoint);
      const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token' as const] : [tokens.accessToken, 'access_token' as const];
      await revokeToken(as, record.config, token, hint, { ...this.#oauthOptions(), timeoutMs: REVOCATION_TIMEOUT_MS, clientSecret });
      logger.info('token revoked', { profileId: record.id, tokenTypeHint: hint });
    } catch (error) {
      const failure = classifyOAuthError(error);
      logger.warn('token revocation failed', { profileId: record.id, reason: failure.code, kind: failure.kind, httpStatus: failure.httpStatus });
    }
  }

  async #legacyRevocationEndpoint(record: ProfileRecord): Promise<string | undefined> {
    const as = await resolveAuthorizationServer(record.config, {
      ...this.#oauthOptions(),
      timeoutMs: REVOCATION_TIMEOUT_MS,
      cache: this.#discovery,
      now: this.#deps.clock(),
      needRevocation: true,
    });
    const { revocation_endpoint: revocation, token_endpoint: token } = as;
    return revocation && token && new URL(revocation).origin === new URL(token).origin ? revocation : undefined;
  }

  // -------------------------------------------------------------------------------------------------
  // Authorization code flow
  // -------------------------------------------------------------------------------------------------

  /** `GET /profiles/{id}/authorize-url`: starts a pending authorization (fresh state and PKCE verifier). */
  async createAuthorizationUrl(id: string | undefined): Promise<{ authorizationUrl: string; callbackUrl: string; expiresAt: string }> {
    const profileId = assertProfileId(id);
    const record = await this.#requireProfile(profileId);
    if (record.config.grantType !== 'authorization_code') {
      throw conflict(
        `Profile "${profileId}" uses the client_credentials grant: it needs no authorization by a person; fetch its token directly.`,
        'not_authorization_code',
      );
    }
    const as = await this.#authorizationServer(record.config);
    const request = await buildAuthorizationRequest(as, record.config, this.callbackUrl, this.#oauthOptions()).catch((error: unknown) => {
      throw this.#configurationError(error);
    });
    const now = this.#deps.clock();
    const expiresAt = new Date(now + AUTHORIZATION_TTL_SECONDS * 1000).toISOString();
    await this.#deps.store.putPendingAuthorization({
      state: request.state,
      profileId,
      codeVerifier: request.codeVerifier,
      redirectUri: this.callbackUrl,
      createdAt: new Date(now).toISOString(),
      expiresAt,
      grant: authorizationBinding(record.config),
    });
    this.#deps.logger.info('authorization started', { profileId, expiresAt, pkce: request.codeVerifier !== null });
    return { authorizationUrl: request.url.href, callbackUrl: this.callbackUrl, expiresAt };
  }

  /**
   * `GET /callback`: consumes the pending authorization its `state` names (a conditional delete, so each
   * state works once even when two callbacks race, and whatever the callback carries: docs/api.md), then
   * validates the authorization response, exchanges the code and stores the tokens. A callback that fails
   * after its state matched records why as the profile's `status.lastError`.
   */
  async completeAuthorization(parameters: URLSearchParams): Promise<{ profileId: string }> {
    const { store } = this.#deps;
    const state = parameters.get('state');
    if (!state) {
      throw new CallbackError('missing_state', 'The callback has no "state" parameter, so it cannot be matched to an authorization. Start again from the profile\'s authorization URL.');
    }
    const pending = await store.getPendingAuthorization(state);
    if (!pending) {
      throw new CallbackError('unknown_state', 'This authorization is unknown or was already completed. Start again from the profile\'s authorization URL.');
    }
    if (!(await store.consumePendingAuthorization(state))) {
      throw new CallbackError('state_reused', 'This authorization was already completed by another request. Start again from the profile\'s authorization URL if the profile is not ready.');
    }
    try {
      return await this.#completeMatched(pending, parameters);
    } catch (error) {
      if (error instanceof CallbackError) await this.#recordCallbackFailure(pending.profileId, error);
      throw error;
    }
  }

  async #completeMatched(pending: PendingAuthorization, parameters: URLSearchParams): Promise<{ profileId: string }> {
    const { store, logger, clock } = this.#deps;
    const profileId = pending.profileId;
    if (Date.parse(pending.expiresAt) <= clock()) {
      throw new CallbackError('state_expired', `This authorization expired (authorization URLs are valid ${AUTHORIZATION_TTL_SECONDS / 60} minutes). Start again from the profile's authorization URL.`);
    }
    const record = await store.getProfile(profileId);
    if (!record || record.deleting) {
      throw new CallbackError('profile_deleted', `Profile "${profileId}" was deleted after this authorization started.`);
    }
    // docs/api.md: a pending authorization is bound to the grant it was created for. After an edit of the
    // endpoints or the client, its code and verifier must not go to the (new) token endpoint.
    if (pending.grant !== authorizationBinding(record.config)) {
      logger.warn('authorization refused: the profile changed since it started', { profileId });
      throw new CallbackError(
        'profile_changed',
        `The endpoints or the client of profile "${profileId}" changed after this authorization started, so it was not completed. Start again from the profile's authorization URL.`,
      );
    }
    const as = await this.#authorizationServer(record.config, { needRevocation: true }).catch((error: unknown) => {
      throw new CallbackError('discovery_failed', `${error instanceof BrokerError ? error.message : 'The authorization server could not be reached.'} Start again from the profile's authorization URL.`);
    });
    const state = pending.state;
    let callbackParameters: URLSearchParams;
    try {
      callbackParameters = validateAuthorizationResponse(as, record.config, parameters, state);
    } catch (error) {
      if (error instanceof AuthorizationResponseProblem) {
        logger.warn('authorization response refused', { profileId, reason: error.reason, oauthError: error.oauthError });
        throw new CallbackError(error.reason, describeProblem(error, [state, parameters.get('code')]), error.oauthError);
      }
      throw error;
    }
    const clientSecret = await this.#clientSecret(record);
    let tokens: TokenSet;
    try {
      tokens = await exchangeAuthorizationCode(as, record.config, callbackParameters, pending.redirectUri, pending.codeVerifier, {
        ...this.#oauthOptions(),
        now: clock(),
        clientSecret,
      });
    } catch (error) {
      const failure = classifyOAuthError(error);
      logger.warn('code exchange failed', { profileId, reason: failure.code, kind: failure.kind, httpStatus: failure.httpStatus });
      throw new CallbackError('exchange_refused', `The authorization server did not issue tokens: ${failure.message}`, failure.code);
    }
    if (!(await this.#storeNewTokens(record, tokens, { authorized: true, clientSecret }))) {
      throw new CallbackError(
        'profile_changed',
        `Profile "${profileId}" was deleted, or its client or token endpoint changed, while this authorization was in progress. Start again from the profile's authorization URL.`,
      );
    }
    logger.info('profile authorized', { profileId, hasRefreshToken: tokens.refreshToken !== null, accessTokenExpiresAt: tokens.expiresAt });
    return { profileId };
  }

  /**
   * Records a failed callback as the profile's `status.lastError` (code and sentence), so that `status` and
   * `authorize --wait` can tell a person why. Conditional on the revision read (a refresh committing
   * meanwhile is not overwritten): re-read and retried a few times; best effort, never fails the page.
   */
  async #recordCallbackFailure(profileId: string, failure: CallbackError): Promise<void> {
    const { store, logger } = this.#deps;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const record = await store.getProfile(profileId);
        if (!record || record.deleting) return;
        const lastError = { code: failure.code, message: failure.message, at: this.#now() };
        await store.updateStatus(profileId, { status: { ...record.status, lastError } }, { now: this.#now(), expectedRevision: record.revision });
        return;
      } catch (error) {
        if (error instanceof ConditionFailedError && attempt < 3) continue;
        logger.warn('callback failure not recorded on the profile', { profileId, ...errorFields(error) });
        return;
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Tokens
  // -------------------------------------------------------------------------------------------------

  /**
   * `GET /profiles/{id}/token`: answers from the per-instance cache while the cached token stays valid for
   * `minValiditySeconds`; otherwise reads the profile (one DynamoDB read) and, when its token version is
   * not the cached one, the token set (one Secrets Manager read).
   */
  async getToken(
    id: string | undefined,
    minValiditySeconds: number = DEFAULT_MIN_VALIDITY_SECONDS,
    options: { remainingMs?: number } = {},
  ): Promise<TokenResponse> {
    const profileId = assertProfileId(id);
    const now = this.#deps.clock();
    const cached = this.#tokens.get(profileId);
    if (cached && now - cached.checkedAt < TOKEN_CACHE_MS && servable(cached, now, minValiditySeconds)) return this.#serve(cached, now, 'cache');

    const record = await this.#requireProfile(profileId);
    if (record.deleting) {
      this.#tokens.delete(profileId);
      throw notFound(`Profile "${profileId}" does not exist.`);
    }
    if (record.config.grantType === 'authorization_code' && (record.status.state === 'authorization_required' || record.tokenVersion === null)) {
      this.#tokens.delete(profileId);
      throw this.#noGrant(record);
    }
    if (record.tokenVersion !== null && !record.stagedTokens) {
      const held = cached && cached.version === record.tokenVersion ? this.#recheck(cached, record, now) : await this.#loadToken(record);
      if (servable(held, now, minValiditySeconds)) return this.#serve(held, now, held === cached ? 'cache' : 'store');
    }
    // Refresh inline, under the lease; concurrent callers wait for the one refresh and share its result.
    const result = await this.#refresh(profileId, {
      trigger: 'token_request',
      minValiditySeconds,
      // The caller's time left, on the broker's clock (a Lambda's remaining time).
      ...(options.remainingMs !== undefined ? { deadline: this.#deps.clock() + options.remainingMs } : {}),
    });
    const fresh = this.#fromRefresh(result);
    const after = this.#deps.clock();
    if (fresh && satisfies(fresh, after, minValiditySeconds)) return this.#serve(fresh, after, 'refresh');
    // docs/api.md: when even the freshest token cannot satisfy minValiditySeconds (the server issues shorter
    // ones), it is served anyway, its expires_in telling the truth, rather than refreshing again.
    if (fresh && fresh.expiresAt > after && FRESHEST.has(result.outcome)) return this.#serve(fresh, after, 'refresh');
    throw this.#unavailable(profileId, result, minValiditySeconds);
  }

  /** `POST /profiles/{id}/refresh`: refreshes now, whatever the schedule says; the view tells the outcome. */
  async refreshNow(id: string | undefined, options: { remainingMs?: number } = {}): Promise<ProfileView> {
    const profileId = assertProfileId(id);
    const record = await this.#requireProfile(profileId);
    if (record.config.grantType === 'authorization_code' && (record.tokenVersion === null || !record.status.hasRefreshToken)) {
      throw authorizationRequired(
        `Profile "${profileId}" holds no refresh token to refresh with: open its authorization URL (GET /profiles/${profileId}/authorize-url) and consent.`,
        'no_refresh_token',
      );
    }
    const result = await this.#refresh(profileId, {
      trigger: 'admin',
      ...(options.remainingMs !== undefined ? { deadline: this.#deps.clock() + options.remainingMs } : {}),
    });
    this.#fromRefresh(result);
    // API.md: 409 only when there was nothing to refresh with; after an attempt, the view tells the outcome.
    if (result.outcome === 'no_grant' || (result.outcome === 'authorization_required' && result.failure === undefined)) {
      throw authorizationRequired(`Profile "${profileId}" needs a person to authorize it again: open its authorization URL and consent.`, result.outcome);
    }
    if (result.outcome === 'lease_busy') {
      throw temporarilyUnavailable(`Profile "${profileId}" is being refreshed by another request; retry shortly.`, 2, 'lease_busy');
    }
    if (result.outcome === 'no_time') {
      throw temporarilyUnavailable(`Not enough time was left to refresh profile "${profileId}" safely; retry.`, 2, 'no_time');
    }
    return this.#view(result.record ?? (await this.#requireProfile(profileId)));
  }

  /**
   * The scheduled job: refreshes the profiles that are due (from the sparse index, no table scan), with
   * bounded concurrency and jitter. One profile's failure never fails the run; a duplicate or late run
   * finds nothing due under the lease and does nothing.
   */
  async runScheduledRefresh(options: { concurrency?: number; jitterMs?: number; remainingMs?: number } = {}): Promise<RefreshRunSummary> {
    const { store, clock, logger } = this.#deps;
    // The run's time left (a Lambda's remaining time) on the broker's clock; each refresh gets it as its
    // deadline, so none starts a grant it cannot finish.
    const deadline = options.remainingMs !== undefined ? clock() + options.remainingMs : undefined;
    const concurrency = Math.max(1, options.concurrency ?? 8);
    const jitterMs = options.jitterMs ?? 1000;
    const sleep = this.#deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const random = this.#deps.random ?? Math.random;
    // Signing keys past their grace period are recorded as withdrawn on the same schedule (docs/keys.md).
    await this.#deps.signingKeys?.sweepDue().catch((error: unknown) => logger.warn('signing key sweep failed', errorFields(error)));
    const due = await store.listDueProfiles(new Date(clock()).toISOString());
    const summary: RefreshRunSummary = { due: due.length, attempted: 0, outcomes: {} };
    const count = (key: RefreshOutcome | 'exception') => (summary.outcomes[key] = (summary.outcomes[key] ?? 0) + 1);
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const record = due[next++]!;
        if (jitterMs > 0) await sleep(Math.floor(random() * jitterMs));
        if (deadline !== undefined && clock() >= deadline) return;
        summary.attempted++;
        try {
          const result = await this.#refresh(record.id, { trigger: 'schedule', ...(deadline !== undefined ? { deadline } : {}) });
          this.#fromRefresh(result);
          count(result.outcome);
        } catch (error) {
          count('exception');
          logger.error('scheduled refresh failed', { profileId: record.id, ...errorFields(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    logger.info('scheduled refresh run', { ...summary });
    return summary;
  }

  async #refresh(profileId: string, request: RefreshRequest): Promise<RefreshResult> {
    const result = await this.#refresher.refresh(profileId, request);
    this.#metrics.refresh(result.outcome, request.trigger, result.failure?.code);
    return result;
  }

  /** Flushes buffered metrics (at the end of a scheduled run; the token path flushes by itself). */
  flushMetrics(): void {
    this.#metrics.flush();
  }

  /** Keeps the cache in step with what a refresh produced; returns the token to serve, if any. */
  #fromRefresh(result: RefreshResult): CachedToken | undefined {
    if (!result.record) {
      return undefined;
    }
    if (result.record.status.state === 'authorization_required' || result.record.deleting) {
      this.#tokens.delete(result.record.id);
      return undefined;
    }
    if (!result.tokens) return undefined;
    // Cached under the version the profile points at when known; otherwise under none, so the next cold
    // request reads the store again.
    return this.#cache(result.record, result.tokens, result.tokensVersion ?? '');
  }

  #serve(token: CachedToken, now: number, source: 'cache' | 'store' | 'refresh'): TokenResponse {
    const response = tokenResponse(token, now);
    this.#metrics.tokenServed(response.expires_in, source);
    return response;
  }

  #unavailable(profileId: string, result: RefreshResult, minValiditySeconds: number): BrokerError {
    const record = result.record;
    if (!record) return notFound(`Profile "${profileId}" does not exist.`);
    const authorizationCode = record.config.grantType === 'authorization_code';
    if (authorizationCode && (result.outcome === 'authorization_required' || result.outcome === 'no_grant' || record.status.state === 'authorization_required')) {
      return this.#noGrant(record);
    }
    if (record.status.state === 'error') {
      return temporarilyUnavailable(
        `Profile "${profileId}" cannot be refreshed: ${record.status.lastError?.message ?? 'the authorization server rejected the client.'} Fix the profile with PUT /profiles/${profileId}.`,
        300,
        'profile_error',
      );
    }
    const why = record.status.lastError ? ` The last refresh failed: ${record.status.lastError.message}` : '';
    return temporarilyUnavailable(
      `Profile "${profileId}" holds no token valid for ${minValiditySeconds} more seconds right now.${why}`,
      result.retryAfterSeconds ?? retryAfterFor(record.status, this.#deps.clock()),
      result.outcome,
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------------

  /** A profile being deleted is gone for every route but DELETE itself (which must be able to finish it). */
  async #requireProfile(profileId: string, options: { deleting?: 'include' } = {}): Promise<ProfileRecord> {
    const record = await this.#deps.store.getProfile(profileId);
    if (!record || (record.deleting && options.deleting !== 'include')) throw notFound(`Profile "${profileId}" does not exist.`);
    return record;
  }

  async #loadToken(record: ProfileRecord): Promise<CachedToken> {
    const tokens = await this.#deps.vault.getTokenSet(record.id, record.tokenVersion ?? undefined);
    if (!tokens) {
      this.#deps.logger.error('token set missing from the vault', { profileId: record.id });
      throw authorizationRequired(`Profile "${record.id}" has lost its tokens; authorize it again.`, 'token_set_missing');
    }
    return this.#cache(record, tokens, record.tokenVersion!);
  }

  #cache(record: ProfileRecord, tokens: TokenSet, version: string): CachedToken {
    const entry: CachedToken = {
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      expiresAt: Date.parse(tokens.expiresAt),
      scope: tokens.scope ?? record.config.scope ?? '',
      version,
      checkedAt: this.#deps.clock(),
      obtainedAt: Date.parse(tokens.obtainedAt),
      refreshNotBefore: this.#refreshNotBefore(record, tokens),
    };
    this.#tokens.set(record.id, entry);
    return entry;
  }

  /** The cached entry confirmed by a fresh read of the profile (same token version): trusted for another minute. */
  #recheck(entry: CachedToken, record: ProfileRecord, now: number): CachedToken {
    const lifetime = { obtainedAt: new Date(entry.obtainedAt).toISOString(), expiresAt: new Date(entry.expiresAt).toISOString() };
    const rechecked = { ...entry, checkedAt: now, refreshNotBefore: this.#refreshNotBefore(record, lifetime) };
    this.#tokens.set(record.id, rechecked);
    return rechecked;
  }

  /**
   * Until when a token request serves the held token rather than start a refresh (docs/api.md "bounded
   * refreshing"): only for a `ready` profile (a failing one backs off, and answers 503 meanwhile), and not
   * while a refresh is in flight (its token is the freshest: the request waits for it). The refresher
   * checks the same bound again under the lease.
   */
  #refreshNotBefore(record: ProfileRecord, tokens: Pick<TokenSet, 'obtainedAt' | 'expiresAt'>): number {
    const inFlight = record.lease !== null && record.lease.expiresAt > this.#deps.clock();
    return record.status.state === 'ready' && !inFlight ? refreshNotBefore(record, tokens) : -Infinity;
  }

  #noGrant(record: ProfileRecord): BrokerError {
    return authorizationRequired(
      `Profile "${record.id}" holds no grant: open its authorization URL (GET /profiles/${record.id}/authorize-url) in a browser and consent.`,
      'no_grant',
    );
  }

  /**
   * Writes a new token set to the vault first, then points the profile at that version. A person's new
   * authorization wins over a refresh in flight: the write breaks the lease, so that refresh cannot commit.
   * The write is conditional on the profile still existing with the same client and token endpoint;
   * `undefined` when it does not (the secret written for it is removed again if the profile is gone).
   */
  async #storeNewTokens(
    record: ProfileRecord,
    tokens: TokenSet,
    options: { authorized: boolean; clientSecret: string | undefined },
  ): Promise<ProfileRecord | undefined> {
    const { store, vault, clock, logger } = this.#deps;
    const version = await vault.putTokenSet(record.id, tokens);
    const status = readyStatus(record, tokens, this.#policy, clock(), options.authorized);
    let updated: ProfileRecord;
    try {
      updated = await store.updateStatus(
        record.id,
        { status, tokenVersion: version, stagedTokens: null },
        { now: this.#now(), breakLease: true, sameGrantAs: record.config },
      );
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      // Deleted, or its client changed, meanwhile: the new grant will never be used, so it is revoked; a
      // deleted profile's re-created secret is removed again.
      await this.#revoke(record, tokens, options.clientSecret);
      const current = await store.getProfile(record.id);
      if (!current || current.deleting) await vault.deleteProfileSecrets(record.id);
      logger.warn('new tokens not stored: the profile changed', { profileId: record.id, deleted: !current || current.deleting === true });
      return undefined;
    }
    if (record.status.state !== status.state) {
      await this.#events.statusChanged({ profileId: record.id, from: record.status.state, to: status.state, lastError: status.lastError });
    }
    this.#cache(updated, tokens, version);
    return updated;
  }

  /** The profile view, with the signing key of a private_key_jwt profile. */
  async #view(record: ProfileRecord): Promise<ProfileView> {
    const view = toView(record, this.callbackUrl);
    const signingKey = await this.#deps.signingKeys?.describe(record.config);
    return signingKey === undefined && record.config.clientAuthMethod !== 'private_key_jwt' ? view : { ...view, signingKey: signingKey ?? null };
  }

  #requireSigningKeys(config: ProfileConfig): SigningKeys {
    if (this.#deps.signingKeys) return this.#deps.signingKeys;
    throw invalidRequest(`This broker has no signing keys configured, so it cannot use ${config.clientAuthMethod}: see docs/keys.md.`, 'no_signing_keys');
  }

  async #clientSecret(record: ProfileRecord): Promise<string | undefined> {
    if (!usesClientSecret(record.config.clientAuthMethod)) return undefined;
    return this.#deps.vault.getClientSecret(record.id);
  }

  async #authorizationServer(config: ProfileConfig, options: { needRevocation?: boolean } = {}): Promise<oauth.AuthorizationServer> {
    try {
      return await resolveAuthorizationServer(config, { ...this.#oauthOptions(), ...options, cache: this.#discovery, now: this.#deps.clock() });
    } catch (error) {
      this.#deps.logger.warn('authorization server discovery failed', { issuer: config.issuer, ...errorFields(error) });
      // No usable metadata there (none, another issuer's, or naming an endpoint the URL policy refuses) is
      // the profile's problem, and retrying will not help; an issuer that is down is passing.
      if (error instanceof OAuthFailure && error.kind === 'error') throw conflict(error.message, error.code);
      throw temporarilyUnavailable(
        `The issuer's metadata could not be read from ${config.issuer ?? 'the issuer'}; check the issuer URL or retry shortly.`,
        30,
        'discovery_failed',
      );
    }
  }

  #configurationError(error: unknown): BrokerError {
    if (error instanceof OAuthFailure) return conflict(error.message, error.code);
    throw error;
  }

  #oauthOptions() {
    return {
      urlPolicy: this.#deps.urlPolicy ?? 'cloud',
      ...(this.#deps.fetch ? { fetch: this.#deps.fetch } : {}),
      ...(this.#deps.oauthTimeoutMs ? { timeoutMs: this.#deps.oauthTimeoutMs } : {}),
      ...(this.#deps.signingKeys ? { clientAssertion: this.#deps.signingKeys.clientAuth } : {}),
    };
  }

  #now(): string {
    return new Date(this.#deps.clock()).toISOString();
  }
}

function satisfies(token: CachedToken, now: number, minValiditySeconds: number): boolean {
  return token.expiresAt - now >= minValiditySeconds * 1000;
}

/**
 * Whether `token` is to be served without a refresh: it is valid long enough, or it is still valid and a
 * refresh was started too recently to start another (docs/api.md "bounded refreshing").
 */
function servable(token: CachedToken, now: number, minValiditySeconds: number): boolean {
  return satisfies(token, now, minValiditySeconds) || (token.expiresAt > now && now < token.refreshNotBefore);
}

/** Refresh outcomes whose token is the freshest the broker can have right now. */
const FRESHEST = new Set<RefreshOutcome>(['refreshed', 'throttled', 'reconciled', 'served_by_other']);

function tokenResponse(token: CachedToken, now: number): TokenResponse {
  return {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: new Date(token.expiresAt).toISOString(),
    expires_in: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
    scope: token.scope,
  };
}

/** Until the next refresh, kept between 1 s and 5 min; 30 s when none is scheduled. */
function retryAfterFor(status: ProfileStatus, now: number): number {
  return Math.min(300, secondsUntilNextRefresh(status, now) ?? 30);
}

/**
 * The page's (and `lastError`'s) sentence for a refused authorization response. The server's
 * `error_description` arrives in the browser's URL: it is shown only short, without control characters
 * and without the callback's own state or code.
 */
function describeProblem(problem: AuthorizationResponseProblem, secrets: ReadonlyArray<string | null>): string {
  if (problem.reason === 'access_denied' || problem.reason === 'server_error') {
    const said = problem.description ? redact(problem.description, secrets).replace(/\p{Cc}/gu, ' ').trim().slice(0, 200) : '';
    return said ? `${problem.message} The server said: ${said}` : problem.message;
  }
  return `${problem.message} Start again from the profile's authorization URL.`;
}

