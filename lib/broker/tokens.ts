/**
 * The token use cases: `GET /profiles/{id}/token` (from the per-instance cache, else the store and the
 * vault, else a refresh under the lease), `POST /profiles/{id}/refresh`, and the scheduled job, limited
 * by its write budget. What a refresh ended in decides what is served or answered.
 */
import { BrokerError, authorizationRequired, notFound, temporarilyUnavailable } from '../errors.js';
import { failureOf, retryAfterOf } from '../lifecycle/outcome.js';
import { refreshNotBefore as notBefore, secondsUntilNextRefresh } from '../lifecycle/timing.js';
import { errorFields } from '../logger.js';
import type { TokenSet } from '../ports.js';
import type { ProfileId, ProfileRecord, ProfileStatus, ProfileView } from '../profile.js';
import type { RefreshOutcome, RefreshRequest, RefreshResult } from '../refresh.js';
import { DEFAULT_MIN_VALIDITY_SECONDS } from '../shared.js';
import { TOKEN_CACHE_MS, servable, staysValid, tokenResponse, type CachedToken, type TokenResponse } from '../token-cache.js';
import { DEFAULT_WRITES_PER_SECOND, WriteBudget } from '../write-budget.js';
import { noGrant, profileView, requireProfile, type BrokerContext } from './context.js';

/** What one scheduled run did, counted by outcome. */
export interface RefreshRunSummary {
  due: number;
  attempted: number;
  outcomes: Partial<Record<RefreshOutcome | 'exception', number>>;
}

/**
 * `GET /profiles/{id}/token`: answers from the per-instance cache while the cached token stays valid for
 * `minValiditySeconds`; otherwise reads the profile (one DynamoDB read) and, when its token version is
 * not the cached one, the token set (one Secrets Manager read).
 */
export async function getToken(
  ctx: BrokerContext,
  profileId: ProfileId,
  minValiditySeconds: number = DEFAULT_MIN_VALIDITY_SECONDS,
  options: { remainingMs?: number } = {},
): Promise<TokenResponse> {
  const now = ctx.deps.clock();
  const cached = ctx.tokens.get(profileId);
  if (cached && now - cached.checkedAt < TOKEN_CACHE_MS && servable(cached, now, minValiditySeconds)) return serve(ctx, cached, now, 'cache');

  // A profile being deleted is gone for consumers; its cached token goes too.
  const record = await requireProfile(ctx, profileId, { deleting: 'include' });
  if (record.deleting) {
    ctx.tokens.delete(profileId);
    throw notFound(`Profile "${profileId}" does not exist.`);
  }
  if (record.config.grantType === 'authorization_code' && (record.status.state === 'authorization_required' || record.tokenVersion === null)) {
    ctx.tokens.delete(profileId);
    throw noGrant(ctx, record);
  }
  if (record.tokenVersion !== null && !record.stagedTokens) {
    const fromCache = cached !== undefined && cached.version === record.tokenVersion;
    const held = fromCache ? recheck(ctx, cached, record, now) : await loadToken(ctx, record);
    if (servable(held, now, minValiditySeconds)) return serve(ctx, held, now, fromCache ? 'cache' : 'store');
  }
  // Refresh inline, under the lease; concurrent callers wait for the one refresh and share its result.
  const result = await refresh(ctx, profileId, {
    trigger: 'token_request',
    minValiditySeconds,
    // The caller's time left, on the broker's clock (a Lambda's remaining time).
    ...(options.remainingMs !== undefined ? { deadline: ctx.deps.clock() + options.remainingMs } : {}),
  });
  const fresh = fromRefresh(ctx, result);
  const after = ctx.deps.clock();
  if (fresh && staysValid(fresh, after, minValiditySeconds)) return serve(ctx, fresh, after, 'refresh');
  // docs/api.md: when even the freshest token cannot satisfy minValiditySeconds (the server issues shorter
  // ones), it is served anyway, its expires_in telling the truth, rather than refreshing again.
  if (fresh && fresh.expiresAt > after && FRESHEST.has(result.outcome)) return serve(ctx, fresh, after, 'refresh');
  throw unavailable(ctx, profileId, result, minValiditySeconds);
}

/** `POST /profiles/{id}/refresh`: refreshes now, whatever the schedule says; the view tells the outcome. */
export async function refreshNow(ctx: BrokerContext, profileId: ProfileId, options: { remainingMs?: number } = {}): Promise<ProfileView> {
  const record = await requireProfile(ctx, profileId);
  if (record.config.grantType === 'authorization_code' && (record.tokenVersion === null || !record.status.hasRefreshToken)) {
    throw authorizationRequired(
      `Profile "${profileId}" holds no refresh token to refresh with: open its authorization URL (GET /profiles/${profileId}/authorize-url) and consent.`,
      'no_refresh_token',
    );
  }
  const result = await refresh(ctx, profileId, {
    trigger: 'admin',
    ...(options.remainingMs !== undefined ? { deadline: ctx.deps.clock() + options.remainingMs } : {}),
  });
  fromRefresh(ctx, result);
  // docs/api.md: 409 only when there was nothing to refresh with; after an attempt, the view tells the outcome.
  if (result.outcome === 'no_grant' || (result.outcome === 'authorization_required' && failureOf(result) === undefined)) {
    throw authorizationRequired(`Profile "${profileId}" needs a person to authorize it again: open its authorization URL and consent.`, result.outcome);
  }
  if (result.outcome === 'lease_busy') {
    throw temporarilyUnavailable(`Profile "${profileId}" is being refreshed by another request; retry shortly.`, 2, 'lease_busy');
  }
  if (result.outcome === 'no_time') {
    throw temporarilyUnavailable(`Not enough time was left to refresh profile "${profileId}" safely; retry.`, 2, 'no_time');
  }
  return profileView(ctx, result.outcome !== 'profile_gone' ? result.record : await requireProfile(ctx, profileId));
}

/**
 * The scheduled job: refreshes the profiles that are due (from the sparse index, no table scan), with
 * bounded concurrency, at most `writesPerSecond` refreshes a second (each writes one token set: Secrets
 * Manager's write quota is the account's, see lib/write-budget.ts). One profile's failure never fails
 * the run; a duplicate or late run finds nothing due under the lease and does nothing.
 */
export async function runScheduledRefresh(ctx: BrokerContext, options: { concurrency?: number; writesPerSecond?: number; remainingMs?: number } = {}): Promise<RefreshRunSummary> {
  const { store, clock, logger } = ctx.deps;
  // The run's time left (a Lambda's remaining time) on the broker's clock; each refresh gets it as its
  // deadline, so none starts a grant it cannot finish.
  const deadline = options.remainingMs !== undefined ? clock() + options.remainingMs : undefined;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const budget = new WriteBudget({
    perSecond: options.writesPerSecond ?? DEFAULT_WRITES_PER_SECOND,
    clock,
    sleep: ctx.deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
  });
  // Signing keys past their grace period are recorded as withdrawn on the same schedule (docs/keys.md).
  await ctx.deps.signingKeys?.sweepDue().catch((error: unknown) => logger.warn('signing key sweep failed', errorFields(error)));
  const due = await store.listDueProfiles(new Date(clock()).toISOString());
  const summary: RefreshRunSummary = { due: due.length, attempted: 0, outcomes: {} };
  const count = (key: RefreshOutcome | 'exception') => (summary.outcomes[key] = (summary.outcomes[key] ?? 0) + 1);
  let next = 0;
  const worker = async () => {
    while (next < due.length) {
      const record = due[next++]!;
      if (!(await budget.take(deadline)) || (deadline !== undefined && clock() >= deadline)) return;
      summary.attempted++;
      try {
        const result = await refresh(ctx, record.id, { trigger: 'schedule', ...(deadline !== undefined ? { deadline } : {}) });
        fromRefresh(ctx, result);
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

async function refresh(ctx: BrokerContext, profileId: string, request: RefreshRequest): Promise<RefreshResult> {
  const result = await ctx.refresher.refresh(profileId, request);
  ctx.metrics.refresh(result.outcome, request.trigger, failureOf(result)?.code);
  return result;
}

/** Flushes buffered metrics (at the end of a scheduled run; the token path flushes by itself). */
export function flushMetrics(ctx: BrokerContext): void {
  ctx.metrics.flush();
}

/** Keeps the cache in step with what a refresh produced; returns the token to serve, if any. */
function fromRefresh(ctx: BrokerContext, result: RefreshResult): CachedToken | undefined {
  if (result.outcome === 'profile_gone') return undefined;
  if (result.record.status.state === 'authorization_required' || result.record.deleting) {
    ctx.tokens.delete(result.record.id);
    return undefined;
  }
  if (!result.tokens) return undefined;
  // Cached under the version the profile points at when known; otherwise under none, so the next cold
  // request reads the store again.
  return cache(ctx, result.record, result.tokens, result.tokensVersion ?? '');
}

function serve(ctx: BrokerContext, token: CachedToken, now: number, source: 'cache' | 'store' | 'refresh'): TokenResponse {
  const response = tokenResponse(token, now);
  ctx.metrics.tokenServed(response.expires_in, source);
  return response;
}

function unavailable(ctx: BrokerContext, profileId: string, result: RefreshResult, minValiditySeconds: number): BrokerError {
  if (result.outcome === 'profile_gone') return notFound(`Profile "${profileId}" does not exist.`);
  const record = result.record;
  const authorizationCode = record.config.grantType === 'authorization_code';
  if (authorizationCode && (result.outcome === 'authorization_required' || result.outcome === 'no_grant' || record.status.state === 'authorization_required')) {
    return noGrant(ctx, record);
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
    retryAfterOf(result) ?? retryAfterFor(record.status, ctx.deps.clock()),
    result.outcome,
  );
}

async function loadToken(ctx: BrokerContext, record: ProfileRecord): Promise<CachedToken> {
  const tokens = await ctx.deps.vault.getTokenSet(record.id, record.tokenVersion ?? undefined);
  if (!tokens) {
    ctx.deps.logger.error('token set missing from the vault', { profileId: record.id });
    throw authorizationRequired(`Profile "${record.id}" has lost its tokens; authorize it again.`, 'token_set_missing');
  }
  return cache(ctx, record, tokens, record.tokenVersion!);
}

export function cache(ctx: BrokerContext, record: ProfileRecord, tokens: TokenSet, version: string): CachedToken {
  const expiresAt = Date.parse(tokens.expiresAt);
  const entry: CachedToken = {
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    expiresAt,
    expiresAtIso: new Date(expiresAt).toISOString(),
    scope: tokens.scope ?? record.config.scope ?? '',
    version,
    checkedAt: ctx.deps.clock(),
    obtainedAt: Date.parse(tokens.obtainedAt),
    refreshNotBefore: refreshNotBefore(ctx, record, tokens),
  };
  ctx.tokens.set(record.id, entry);
  return entry;
}

/** The cached entry confirmed by a fresh read of the profile (same token version): trusted for another minute. */
function recheck(ctx: BrokerContext, entry: CachedToken, record: ProfileRecord, now: number): CachedToken {
  const lifetime = { obtainedAt: new Date(entry.obtainedAt).toISOString(), expiresAt: new Date(entry.expiresAt).toISOString() };
  const rechecked = { ...entry, checkedAt: now, refreshNotBefore: refreshNotBefore(ctx, record, lifetime) };
  ctx.tokens.set(record.id, rechecked);
  return rechecked;
}

/**
 * Until when a token request serves the held token rather than start a refresh (docs/api.md "bounded
 * refreshing"): only for a `ready` profile (a failing one backs off, and answers 503 meanwhile), and not
 * while a refresh is in flight (its token is the freshest: the request waits for it). The refresher
 * checks the same bound again under the lease.
 */
function refreshNotBefore(ctx: BrokerContext, record: ProfileRecord, tokens: Pick<TokenSet, 'obtainedAt' | 'expiresAt'>): number {
  const inFlight = record.lease !== null && record.lease.expiresAt > ctx.deps.clock();
  return record.status.state === 'ready' && !inFlight ? notBefore(record, tokens) : -Infinity;
}

/** Refresh outcomes whose token is the freshest the broker can have right now. */
const FRESHEST = new Set<RefreshOutcome>(['refreshed', 'throttled', 'reconciled', 'served_by_other']);

/** Until the next refresh, kept between 1 s and 5 min; 30 s when none is scheduled. */
function retryAfterFor(status: ProfileStatus, now: number): number {
  return Math.min(300, secondsUntilNextRefresh(status, now) ?? 30);
}

