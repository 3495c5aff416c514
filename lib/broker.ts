/**
 * The broker: a thin facade over its use cases (lib/broker/: profiles, authorization, tokens), for the
 * handlers in `lambdas/` and local mode. It owns the edge: raw inputs (path ids, bodies) are validated here
 * into typed values, with the contract's error codes, before any use case runs; and it builds what one
 * container shares (caches, the refresher) once.
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
export type { BrokerDependencies } from './broker/context.js';
export type { RefreshRunSummary } from './broker/tokens.js';
export type { TokenResponse } from './token-cache.js';
export { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS };

export class Broker {
  readonly #ctx: BrokerContext;

  constructor(deps: BrokerDependencies) {
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
        oauth: oauthOptionsOf(deps),
        // Discovery failures arrive classified: unreachable, 5xx or 429 are passing; unusable metadata is an
        // invalid_configuration error. The revocation endpoint too (best effort): it is recorded with every
        // token set obtained.
        authorizationServer: (record) =>
          resolveAuthorizationServer(record.config, { ...oauthOptionsOf(deps), cache: discovery, now: deps.clock(), needRevocation: true }),
        secrets,
        timing: refreshTiming({
          ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
          ...(deps.maxWaitMs ? { maxWaitMs: deps.maxWaitMs } : {}),
          ...(deps.oauthTimeoutMs ? { oauthTimeoutMs: deps.oauthTimeoutMs } : {}),
        }),
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        ...(deps.random ? { random: deps.random } : {}),
        revoke: (record, tokens, clientSecret) => revoke(this.#ctx, record, tokens, clientSecret),
      }),
    };
    this.#ctx = ctx;
  }

  get callbackUrl(): string {
    return this.#ctx.deps.callbackUrl;
  }

  /** The signing keys (`GET /jwks`, `/keys`), when configured (docs/keys.md). */
  get signingKeys(): SigningKeys | undefined {
    return this.#ctx.deps.signingKeys;
  }

  /** `PUT /profiles/{id}`: the id and the body are validated before anything is read or written. */
  async putProfile(id: string | undefined, body: string | null | undefined): Promise<{ created: boolean; view: ProfileView }> {
    const profileId = assertProfileId(id);
    // The schema library is loaded only here: the token path never parses a profile (cold start).
    const { parseProfileInput } = await import('./profile-input.js');
    const input = parseProfileInput(body, this.#ctx.deps.urlPolicy ?? 'cloud');
    const saved = await putProfile(this.#ctx, profileId, input);
    // A secret stored by this container replaces any this container cached.
    if (input.clientSecret !== undefined) this.#ctx.secrets.forget(profileId);
    return saved;
  }

  /** `GET /profiles/{id}`. */
  getProfile(id: string | undefined): Promise<ProfileView> {
    return getProfile(this.#ctx, assertProfileId(id));
  }

  /** `GET /profiles`. */
  listProfiles(): Promise<ProfileView[]> {
    return listProfiles(this.#ctx);
  }

  /** `DELETE /profiles/{id}`. */
  async deleteProfile(id: string | undefined): Promise<void> {
    const profileId = assertProfileId(id);
    await deleteProfile(this.#ctx, profileId);
    this.#ctx.secrets.forget(profileId);
  }

  /** `GET /profiles/{id}/authorize-url`. */
  createAuthorizationUrl(id: string | undefined): Promise<{ authorizationUrl: string; callbackUrl: string; expiresAt: string }> {
    return createAuthorizationUrl(this.#ctx, assertProfileId(id));
  }

  /** `GET /callback`: the parameters the authorization server sent, as they are (they are checked there). */
  completeAuthorization(parameters: URLSearchParams): Promise<{ profileId: string }> {
    return completeAuthorization(this.#ctx, parameters);
  }

  /** `GET /profiles/{id}/token` (`minValiditySeconds` already validated by the handler: 0..3600). */
  getToken(id: string | undefined, minValiditySeconds: number = DEFAULT_MIN_VALIDITY_SECONDS, options: { remainingMs?: number } = {}): Promise<TokenResponse> {
    return getToken(this.#ctx, assertProfileId(id), minValiditySeconds, options);
  }

  /** `POST /profiles/{id}/refresh`. */
  refreshNow(id: string | undefined, options: { remainingMs?: number } = {}): Promise<ProfileView> {
    return refreshNow(this.#ctx, assertProfileId(id), options);
  }

  /** The scheduled job. */
  runScheduledRefresh(options: { concurrency?: number; writesPerSecond?: number; remainingMs?: number } = {}): Promise<RefreshRunSummary> {
    return runScheduledRefresh(this.#ctx, options);
  }

  /** Flushes buffered metrics (at the end of a scheduled run; the token path flushes by itself). */
  flushMetrics(): void {
    flushMetrics(this.#ctx);
  }
}

function oauthOptionsOf(deps: BrokerDependencies) {
  return oauthOptions({ deps } as BrokerContext);
}
