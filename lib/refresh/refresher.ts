/**
 * The refresh itself: one refresh at a time per profile, across all instances (docs/design.md). The token
 * endpoint, `POST /profiles/{id}/refresh` and the scheduled job all come through `Refresher.refresh`,
 * which takes the profile's lease (recording the version it may write in the same write), recovers what an
 * earlier holder left, re-checks the need under the lease, asks the token endpoint, writes the new token
 * set to the vault and commits the status only while it still holds the lease. A caller that loses the
 * race waits for the winner and serves its token.
 */
import { randomUUID } from 'node:crypto';
import { decide, refusal, satisfies, type RefreshNeed, type RefreshTrigger } from '../lifecycle/decisions.js';
import type { RefreshResult } from '../lifecycle/outcome.js';
import { isDue, refreshNotBefore, secondsUntilNextRefresh } from '../lifecycle/timing.js';
import { refreshFailedStatus, refreshedStatus, tokensStagedStatus, unwrittenStatus } from '../lifecycle/transitions.js';
import { errorFields } from '../logger.js';
import { OAuthFailure, classifyOAuthError, refreshAccessToken, requestClientCredentialsToken } from '../oauth.js';
import type { StatusUpdate, TokenSet } from '../ports.js';
import type { ProfileRecord } from '../profile.js';
import { sealStagedTokens } from '../staging.js';
import { moment, signal, type RefreshContext } from './context.js';
import { Lease } from './lease.js';
import { adoptPending, openStaged, reconcile, recordNewPending, writeTokenSet } from './recovery.js';

export interface RefreshRequest extends RefreshNeed {
  trigger: RefreshTrigger;
  /**
   * Epoch milliseconds by which the caller must be done (a Lambda's remaining time). No grant is started
   * that could outlive it: a function killed after the server rotated a refresh token would lose it.
   */
  deadline?: number;
}

export class Refresher {
  readonly #ctx: RefreshContext;

  constructor(ctx: RefreshContext) {
    this.#ctx = ctx;
  }

  /**
   * Refreshes the profile if the trigger's need holds, under the profile's lease. Never throws for an
   * OAuth failure: the outcome and the recorded status say what happened.
   */
  async refresh(profileId: string, request: RefreshRequest): Promise<RefreshResult> {
    const ctx = this.#ctx;
    const owner = randomUUID();
    const acquire = () => Lease.acquire(ctx, profileId, owner, randomUUID());
    const leased = await acquire();
    if (leased) return this.#underLease(leased, request);

    // Someone else holds the lease: wait for their result instead of refreshing again. Reads while the
    // lease is held; a conditional write only once it is free.
    const { clock, timing } = ctx;
    const waitUntil = Math.min(clock() + timing.maxWaitMs, request.deadline !== undefined ? request.deadline - timing.grantBudgetMs : Infinity);
    let seenVersion: string | null | undefined;
    for (let attempt = 0; ; attempt++) {
      const current = await ctx.store.getProfile(profileId);
      if (!current || current.deleting) return { outcome: 'profile_gone' };
      if (request.trigger === 'schedule') return { outcome: 'lease_busy', record: current };
      seenVersion ??= current.tokenVersion;
      const leaseFree = !current.lease || current.lease.expiresAt <= clock();
      if (current.tokenVersion !== seenVersion || leaseFree) {
        const served = await this.#served(current, request);
        if (served) return served;
        seenVersion = current.tokenVersion;
      }
      if (leaseFree) {
        const taken = await acquire();
        if (taken) return this.#underLease(taken, request);
      }
      if (clock() >= waitUntil) return { outcome: 'lease_busy', record: current, retryAfterSeconds: 2 };
      await ctx.sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1000));
    }
  }

  /** After the winner committed: is its token good enough for this caller? */
  async #served(record: ProfileRecord, request: RefreshRequest): Promise<RefreshResult | undefined> {
    if (record.tokenVersion === null || record.stagedTokens) return undefined;
    if (request.trigger === 'admin') return { outcome: 'served_by_other', record };
    const tokens = await this.#ctx.vault.getTokenSet(record.id, record.tokenVersion);
    if (tokens && satisfies(tokens, request.minValiditySeconds ?? 0, this.#ctx.clock())) {
      return { outcome: 'served_by_other', record, tokens, tokensVersion: record.tokenVersion };
    }
    return undefined;
  }

  async #underLease(lease: Lease, request: RefreshRequest): Promise<RefreshResult> {
    try {
      return await this.#decideAndRefresh(lease, request);
    } finally {
      await lease.release();
    }
  }

  async #decideAndRefresh(lease: Lease, request: RefreshRequest): Promise<RefreshResult> {
    const ctx = this.#ctx;
    const now = ctx.clock();

    // A previous holder recorded a version it was about to write, and never committed: adopt it if the vault
    // has it (its set holds the rotated refresh token), else forget it.
    let current: ProfileRecord | undefined = lease.record;
    if (current.pendingVersion && current.pendingVersion !== lease.pendingVersion) current = await adoptPending(ctx, lease);
    if (!current) return { outcome: 'profile_gone' };

    // Tokens obtained while the vault was failing are written before anything else, when due (so a
    // failing vault is not retried on every token request) or when a person asks.
    let held: TokenSet | undefined;
    if (current.stagedTokens) {
      const staged = await openStaged(ctx, lease);
      if (staged.record) current = staged.record;
      if (staged.tokens) {
        if (request.trigger !== 'admin' && !isDue(current.status, now)) {
          return { outcome: 'failing', record: current, tokens: staged.tokens, ...retryAfter(current, now) };
        }
        const reconciled = await reconcile(ctx, lease, staged.tokens, request.deadline);
        if (!reconciled.written) {
          return { outcome: 'failing', record: reconciled.record, tokens: staged.tokens, ...retryAfter(reconciled.record, now) };
        }
        current = reconciled.record;
        held = staged.tokens;
        if (request.trigger === 'schedule' && !isDue(current.status, now)) {
          return { outcome: 'reconciled', record: current, tokens: held, ...versionOf(current) };
        }
      }
    }

    const refused = refusal(current, request.trigger);
    if (refused) return { outcome: refused, record: current };
    if (!held && current.tokenVersion !== null) held = await ctx.vault.getTokenSet(current.id, current.tokenVersion);
    switch (decide(current, held, request, now)) {
      case 'not_needed':
        return { outcome: 'not_needed', record: current, ...(held ? { tokens: held } : {}), ...versionOf(current) };
      case 'too_soon':
        // Re-checked here, under the lease, on the record just read: consumers on any number of instances
        // start at most one refresh per window. A ready profile serves its held token meanwhile; a failing
        // one answers as it backs off.
        return {
          outcome: current.status.state === 'ready' ? 'throttled' : 'backing_off',
          record: current,
          ...(held ? { tokens: held } : {}),
          ...versionOf(current),
          retryAfterSeconds: Math.max(1, Math.ceil((refreshNotBefore(current, held) - now) / 1000)),
        };
      case 'backing_off':
        return { outcome: 'backing_off', record: current, ...(held ? { tokens: held } : {}), ...retryAfter(current, now) };
      case 'no_grant':
        return { outcome: 'no_grant', record: current, ...(held ? { tokens: held } : {}) };
      case 'grant':
        return this.#grant(lease, current, held, request);
    }
  }

  /** Asks the token endpoint and records the outcome, all while holding the lease. */
  async #grant(lease: Lease, record: ProfileRecord, held: TokenSet | undefined, request: RefreshRequest): Promise<RefreshResult> {
    const ctx = this.#ctx;
    const heldTokens = held ? { tokens: held } : {};
    let clientSecret = await ctx.secrets.get(record);
    let as;
    try {
      as = await ctx.authorizationServer(record);
    } catch (error) {
      return this.#recordFailure(lease, record, held, classifyOAuthError(error, [clientSecret]), request);
    }
    if (lease.timeLeft(request.deadline) < ctx.timing.grantBudgetMs) {
      await lease.release();
      return { outcome: 'no_time', record, ...heldTokens, retryAfterSeconds: 2 };
    }
    // The version the new set will be written as is recorded before the token endpoint is asked (with the
    // lease, normally): whatever happens after the server answers, the next holder knows where it is.
    const writeId = lease.pendingVersion ?? (await recordNewPending(lease, request.deadline));
    if (!writeId) return { outcome: 'lease_busy', record, ...heldTokens, retryAfterSeconds: 2 };
    const marked = lease.record;

    // Recorded with whatever the grant ends in: token requests start no other before `refreshNotBefore`.
    const started = { lastGrantAt: new Date(ctx.clock()).toISOString() };
    const ask = (secret: string | undefined) => {
      const context = { ...ctx.oauth, now: ctx.clock(), clientSecret: secret };
      return record.config.grantType === 'client_credentials'
        ? requestClientCredentialsToken(as, record.config, context)
        : refreshAccessToken(as, record.config, held!.refreshToken!, context, held!.revocationEndpoint);
    };
    let tokens: TokenSet;
    try {
      tokens = await ask(clientSecret);
    } catch (error) {
      let failure = classifyOAuthError(error, [clientSecret, held?.refreshToken]);
      // The cached secret may be stale (another container stored a new one): read it again, and ask once
      // more with it when it differs and there is time. The server rejected the client before the grant,
      // so the refresh token was not used.
      const retried = failure.code === 'invalid_client' ? await this.#withNewSecret(lease, record, clientSecret, request) : undefined;
      if (retried === undefined) return this.#recordFailure(lease, marked, held, failure, request, started);
      const stale = clientSecret;
      clientSecret = retried;
      try {
        tokens = await ask(clientSecret);
      } catch (again) {
        failure = classifyOAuthError(again, [clientSecret, stale, held?.refreshToken]);
        return this.#recordFailure(lease, marked, held, failure, request, started);
      }
    }
    if (held && sameTokenSet(held, tokens)) {
      // Nothing changed: no vault write (Secrets Manager's write quota and version limit).
      const committed = await this.#commit(lease, marked, { status: refreshedStatus(marked, tokens, moment(ctx)), pendingVersion: null, ...started }, request);
      return { outcome: 'refreshed', record: committed ?? marked, tokens, ...(committed ? versionOf(committed) : {}) };
    }
    lease.keepPending();
    const version = await writeTokenSet(ctx, lease, tokens, writeId, request.deadline);
    if (version === undefined) return this.#keepUnwritten(lease, marked, held, tokens, clientSecret, request, started);
    const committed = await this.#commit(
      lease,
      marked,
      { status: refreshedStatus(marked, tokens, moment(ctx)), tokenVersion: version, stagedTokens: null, pendingVersion: null, ...started },
      request,
    );
    if (!committed) {
      // The profile still names the pending version, so the next holder adopts the new set; a profile
      // deleted meanwhile loses the re-created secret, and its new grant is revoked.
      ctx.logger.error('refresh commit failed after the vault write', { profileId: record.id });
      await this.#cleanUpIfGone(record, tokens, clientSecret);
      return { outcome: 'failing', record: marked, tokens };
    }
    ctx.logger.info('token refreshed', {
      profileId: record.id,
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenRotated: held?.refreshToken !== undefined && tokens.refreshToken !== held.refreshToken,
    });
    return { outcome: 'refreshed', record: committed, tokens, tokensVersion: version };
  }

  /** A new secret to ask with after `invalid_client`, when the vault has one and there is time for a second grant. */
  async #withNewSecret(lease: Lease, record: ProfileRecord, used: string | undefined, request: RefreshRequest): Promise<string | undefined> {
    if (record.config.clientAuthMethod === 'none') return undefined;
    const fresh = await this.#ctx.secrets.reread(record).catch(() => undefined);
    if (fresh === undefined || fresh === used || lease.timeLeft(request.deadline) < this.#ctx.timing.grantBudgetMs) return undefined;
    return fresh;
  }

  /**
   * The vault refused the new set. A rotated refresh token must survive: it is staged on the profile,
   * sealed with a key derived from the refresh token it replaces (the one the profile points at, which only
   * the vault holds), and written on the next run. The pending version stays recorded, in case the write
   * did land although it reported a failure. Without a refresh token (client credentials) nothing is lost
   * but the access token, which this caller still gets.
   */
  async #keepUnwritten(
    lease: Lease,
    record: ProfileRecord,
    held: TokenSet | undefined,
    tokens: TokenSet,
    clientSecret: string | undefined,
    request: RefreshRequest,
    started: { lastGrantAt: string },
  ): Promise<RefreshResult> {
    const ctx = this.#ctx;
    const staged = held?.refreshToken ? sealStagedTokens(tokens, held.refreshToken, record.id) : null;
    const { status, retryAfterSeconds } = staged ? tokensStagedStatus(record, tokens, moment(ctx)) : unwrittenStatus(record, held, moment(ctx));
    const committed = await this.#commit(lease, record, { status, stagedTokens: staged, ...started }, request);
    ctx.logger.error('token set could not be written to the vault', { profileId: record.id, staged: staged !== null, committed: committed !== undefined });
    if (!committed) await this.#cleanUpIfGone(record, tokens, clientSecret);
    return { outcome: 'failing', record: committed ?? record, tokens, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  }

  async #recordFailure(
    lease: Lease,
    record: ProfileRecord,
    held: TokenSet | undefined,
    failure: OAuthFailure,
    request: RefreshRequest,
    started: { lastGrantAt?: string } = {},
  ): Promise<RefreshResult> {
    const ctx = this.#ctx;
    const { status, retryAfterSeconds } = refreshFailedStatus(record, failure, held, moment(ctx));
    // Nothing was obtained: the version recorded as pending is forgotten with the commit.
    const committed = await this.#commit(lease, record, { status, pendingVersion: null, ...started }, request);
    ctx.logger.warn('refresh failed', {
      profileId: record.id,
      reason: failure.code,
      kind: failure.kind,
      state: status.state,
      consecutiveFailures: status.consecutiveFailures,
      httpStatus: failure.httpStatus,
    });
    const about = { record: committed ?? record, ...(held ? { tokens: held } : {}), failure };
    return failure.kind === 'passing'
      ? { outcome: 'failing', ...about, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) }
      : { outcome: failure.kind, ...about };
  }

  /** Commits under the lease (releasing it) and signals a change of state. */
  async #commit(lease: Lease, before: ProfileRecord, update: StatusUpdate, request: RefreshRequest): Promise<ProfileRecord | undefined> {
    const committed = await lease.commit(update, request.deadline);
    if (committed) await signal(this.#ctx, before, update.status);
    return committed;
  }

  /**
   * A profile deleted while a refresh was in flight must not keep the grant it just rotated, nor a
   * re-created secret: the new tokens are revoked (best effort) and its secrets removed again, unless a
   * profile of the same id was created again meanwhile.
   */
  async #cleanUpIfGone(record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined): Promise<void> {
    const ctx = this.#ctx;
    const profileId = record.id;
    const gone = async () => {
      const current = await ctx.store.getProfile(profileId);
      return !current || current.deleting === true;
    };
    try {
      if (!(await gone())) return;
      await ctx.revoke(record, tokens, clientSecret);
      if (!(await gone())) return;
      // Only the token set: this grant re-created it; the DELETE removed the client secret, and a profile
      // created again meanwhile may have a new one.
      await ctx.vault.deleteTokenSet(profileId);
      ctx.logger.warn('tokens of a deleted profile revoked and removed', { profileId });
    } catch (error) {
      ctx.logger.error('cleanup after a lost commit failed', { profileId, ...errorFields(error) });
    }
  }
}

/** The same answer again (an idempotent server): `expiresAt` is derived from the clock, so it is not compared. */
function sameTokenSet(a: TokenSet, b: TokenSet): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken && a.scope === b.scope && a.tokenType === b.tokenType;
}

function retryAfter(record: ProfileRecord, now: number): { retryAfterSeconds?: number } {
  const seconds = secondsUntilNextRefresh(record.status, now);
  return seconds === undefined ? {} : { retryAfterSeconds: seconds };
}

function versionOf(record: ProfileRecord): { tokensVersion?: string } {
  return record.tokenVersion ? { tokensVersion: record.tokenVersion } : {};
}
