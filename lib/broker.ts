/**
 * The broker: a thin facade over its use cases (lib/broker/: profiles, authorization, tokens), for the
 * handlers in `lambdas/` and local mode. It owns the edge: raw inputs (path ids, bodies) are validated here
 * into typed values, with the contract's error codes, before any use case runs; and it builds what one
 * container shares (caches, the refresher) once. The use cases come in groups, so that each Lambda function
 * bundles only those it serves (`Broker` has them all).
 */
import { ClientSecrets } from './client-secrets.js';
import { LoggedStatusEvents } from './events.js';
import { refreshPolicy } from './lifecycle/timing.js';
import { noMetrics } from './metrics.js';
import { DiscoveryCache, resolveAuthorizationServer } from './oauth.js';
import { assertProfileId, type ProfileView } from './profile.js';
import { createRefresher } from './refresh.js';
import { refreshTiming } from './refresh/timing.js';
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS } from './shared.js';
import { TokenCache, type TokenResponse } from './token-cache.js';
import type { SigningKeys } from './keys/signing-keys.js';
import { completeAuthorization, createAuthorizationUrl } from './broker/authorization.js';
import { oauthOptions, type BrokerContext, type BrokerDependencies } from './broker/context.js';
import { deleteProfile, getProfile, listProfiles, putProfile } from './broker/profiles.js';
import { revoke } from './broker/revocation.js';
import { flushMetrics, getToken, refreshNow, runScheduledRefresh, type RefreshRunSummary } from './broker/tokens.js';

export { AUTHORIZATION_TTL_SECONDS, CallbackError } from './broker/authorization.js';
export type { BrokerContext, BrokerDependencies } from './broker/context.js';
export type { RefreshRunSummary } from './broker/tokens.js';
export type { TokenResponse } from './token-cache.js';
export { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS };

/**
 * Builds what one container shares: the caches (discovery, client secrets, tokens) and the refresher. The
 * Lambda functions build it once (lib/composition.ts) and take only the use cases they serve, below.
 */
export function brokerContext(deps: BrokerDependencies): BrokerContext {
  const discovery = new DiscoveryCache();
  const events = deps.events ?? new LoggedStatusEvents(deps.logger);
  const policy = refreshPolicy(deps.refresh);
  const secrets = new ClientSecrets(deps.vault);
  const ctx: BrokerContext = {
    deps,
    policy,
    discovery,
    tokens: new TokenCache(),
    secrets,
    metrics: deps.metrics ?? noMetrics,
    events,
    refresher: createRefresher({
      store: deps.store,
      vault: deps.vault,
      clock: deps.clock,
      logger: deps.logger,
      events,
      policy,
      oauth: oauthOptions(deps),
      // Discovery failures arrive classified: unreachable, 5xx or 429 are passing; unusable metadata is an
      // invalid_configuration error. The revocation endpoint too (best effort): it is recorded with every
      // token set obtained.
      authorizationServer: (record) =>
        resolveAuthorizationServer(record.config, { ...oauthOptions(deps), cache: discovery, now: deps.clock(), needRevocation: true }),
      secrets,
      timing: refreshTiming({
        ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
        ...(deps.maxWaitMs ? { maxWaitMs: deps.maxWaitMs } : {}),
        ...(deps.oauthTimeoutMs ? { oauthTimeoutMs: deps.oauthTimeoutMs } : {}),
      }),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.random ? { random: deps.random } : {}),
      revoke: (record, tokens, clientSecret) => revoke(ctx, record, tokens, clientSecret),
    }),
  };
  return ctx;
}

/*
 * The use cases in groups, one group (or two) per Lambda function. A function takes only its groups, so its
 * bundle holds only the code it runs: esbuild keeps every method of a class it keeps, but drops a function
 * nothing calls (the token function carries no profile validation, no schema library, no consent flow).
 */

/** `GET /profiles/{id}`, `GET /profiles` (the profiles and keys functions). */
export function profileReads(ctx: BrokerContext) {
  return {
    /** `GET /profiles/{id}`. */
    getProfile: (id: string | undefined): Promise<ProfileView> => getProfile(ctx, assertProfileId(id)),
    /** `GET /profiles`. */
    listProfiles: (): Promise<ProfileView[]> => listProfiles(ctx),
  };
}

/** `PUT /profiles/{id}`, `DELETE /profiles/{id}`, `POST /profiles/{id}/refresh` (the profiles function). */
export function profileWrites(ctx: BrokerContext) {
  return {
    /** `PUT /profiles/{id}`: the id and the body are validated before anything is read or written. */
    async putProfile(id: string | undefined, body: string | null | undefined): Promise<{ created: boolean; view: ProfileView }> {
      const profileId = assertProfileId(id);
      // The schema library is loaded only here: the token path never parses a profile (cold start).
      const { parseProfileInput } = await import('./profile-input.js');
      const input = parseProfileInput(body, ctx.deps.urlPolicy ?? 'cloud');
      const saved = await putProfile(ctx, profileId, input);
      // A secret stored by this container replaces any this container cached.
      if (input.clientSecret !== undefined) ctx.secrets.forget(profileId);
      return saved;
    },
    /** `DELETE /profiles/{id}`. */
    async deleteProfile(id: string | undefined): Promise<void> {
      const profileId = assertProfileId(id);
      await deleteProfile(ctx, profileId);
      ctx.secrets.forget(profileId);
    },
    /** `POST /profiles/{id}/refresh`. */
    refreshNow: (id: string | undefined, options: { remainingMs?: number } = {}): Promise<ProfileView> => refreshNow(ctx, assertProfileId(id), options),
  };
}

/** `GET /profiles/{id}/authorize-url` (the authorize-url function). */
export function authorizationStart(ctx: BrokerContext) {
  return {
    /** `GET /profiles/{id}/authorize-url`. */
    createAuthorizationUrl: (id: string | undefined): Promise<{ authorizationUrl: string; callbackUrl: string; expiresAt: string }> =>
      createAuthorizationUrl(ctx, assertProfileId(id)),
  };
}

/** `GET /callback` (the callback function). */
export function authorizationCompletion(ctx: BrokerContext) {
  return {
    /** `GET /callback`: the parameters the authorization server sent, as they are (they are checked there). */
    completeAuthorization: (parameters: URLSearchParams): Promise<{ profileId: string }> => completeAuthorization(ctx, parameters),
  };
}

/** `GET /profiles/{id}/token` (the token function). */
export function tokenUseCases(ctx: BrokerContext) {
  return {
    /** `GET /profiles/{id}/token` (`minValiditySeconds` already validated by the handler: 0..3600). */
    getToken: (id: string | undefined, minValiditySeconds: number = DEFAULT_MIN_VALIDITY_SECONDS, options: { remainingMs?: number } = {}): Promise<TokenResponse> =>
      getToken(ctx, assertProfileId(id), minValiditySeconds, options),
  };
}

/** The scheduled job (the refresh function). */
export function refreshJobUseCases(ctx: BrokerContext) {
  return {
    /** The scheduled job. */
    runScheduledRefresh: (options: { concurrency?: number; writesPerSecond?: number; remainingMs?: number } = {}): Promise<RefreshRunSummary> =>
      runScheduledRefresh(ctx, options),
    /** Flushes buffered metrics (at the end of a scheduled run; the token path flushes by itself). */
    flushMetrics: (): void => flushMetrics(ctx),
  };
}

/** The settings the edge shows: the callback URL, and the signing keys (`GET /jwks`, `/keys`) when configured (docs/keys.md). */
export function brokerSettings(ctx: BrokerContext): { readonly callbackUrl: string; readonly signingKeys: SigningKeys | undefined } {
  return { callbackUrl: ctx.deps.callbackUrl, signingKeys: ctx.deps.signingKeys };
}

export type ProfileReads = ReturnType<typeof profileReads>;
export type ProfileWrites = ReturnType<typeof profileWrites>;
export type AuthorizationStart = ReturnType<typeof authorizationStart>;
export type AuthorizationCompletion = ReturnType<typeof authorizationCompletion>;
export type TokenUseCases = ReturnType<typeof tokenUseCases>;
export type RefreshJobUseCases = ReturnType<typeof refreshJobUseCases>;
export type BrokerSettingsView = ReturnType<typeof brokerSettings>;

/** Every use case on one context: local mode, the tests and the benchmarks. */
export function allUseCases(ctx: BrokerContext): Broker {
  return {
    ...brokerSettings(ctx),
    ...profileReads(ctx),
    ...profileWrites(ctx),
    ...authorizationStart(ctx),
    ...authorizationCompletion(ctx),
    ...tokenUseCases(ctx),
    ...refreshJobUseCases(ctx),
  };
}

/**
 * The whole broker on one container's context, for local mode (which serves every route from one process),
 * the tests and the benchmarks. The Lambda functions take their groups of use cases instead
 * (lib/composition.ts `fromEnvironment`).
 */
export class Broker implements BrokerSettingsView, ProfileReads, ProfileWrites, AuthorizationStart, AuthorizationCompletion, TokenUseCases, RefreshJobUseCases {
  declare readonly callbackUrl: string;
  declare readonly signingKeys: SigningKeys | undefined;
  declare readonly getProfile: ProfileReads['getProfile'];
  declare readonly listProfiles: ProfileReads['listProfiles'];
  declare readonly putProfile: ProfileWrites['putProfile'];
  declare readonly deleteProfile: ProfileWrites['deleteProfile'];
  declare readonly refreshNow: ProfileWrites['refreshNow'];
  declare readonly createAuthorizationUrl: AuthorizationStart['createAuthorizationUrl'];
  declare readonly completeAuthorization: AuthorizationCompletion['completeAuthorization'];
  declare readonly getToken: TokenUseCases['getToken'];
  declare readonly runScheduledRefresh: RefreshJobUseCases['runScheduledRefresh'];
  declare readonly flushMetrics: RefreshJobUseCases['flushMetrics'];

  constructor(deps: BrokerDependencies) {
    Object.assign(this, allUseCases(brokerContext(deps)));
  }
}

