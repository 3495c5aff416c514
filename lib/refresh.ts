/**
 * Refreshing tokens: one refresh at a time per profile, across all instances (DESIGN.md "One refresh at a
 * time per profile, everywhere"). The token endpoint, `POST /profiles/{id}/refresh` and the scheduled job
 * all come through `Refresher.refresh`, which takes the profile's lease, re-reads and re-checks the need
 * under it, refreshes, writes the new token set to the vault and commits the status only while it still
 * holds the lease. A caller that loses the race waits for the winner and serves its token.
 */
import { randomUUID } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import { errorFields, type Log } from './logger.js';
import { OAuthFailure, classifyOAuthError, refreshAccessToken, requestClientCredentialsToken, type OAuthOptions } from './oauth.js';
import { ConditionFailedError, type Clock, type ProfileStore, type SecretVault, type TokenSet } from './ports.js';
import type { LastError, ProfileRecord, ProfileState, ProfileStatus } from './profile.js';
import { nextRefreshAt, type RefreshPolicy } from './schedule.js';
import { openStagedTokens, sealStagedTokens } from './staging.js';
import type { StatusEvents } from './events.js';

export type RefreshTrigger = 'schedule' | 'token_request' | 'admin';

/** Machine-readable outcomes, counted by the scheduled job and the metrics. */
export type RefreshOutcome =
  | 'refreshed'
  | 'not_needed'
  | 'served_by_other'
  | 'lease_busy'
  | 'backing_off'
  | 'no_grant'
  | 'authorization_required'
  | 'error'
  | 'failing'
  | 'reconciled'
  | 'profile_gone';

export interface RefreshResult {
  outcome: RefreshOutcome;
  record: ProfileRecord | undefined;
  /** The token set the profile now points at, when it was read or obtained. */
  tokens?: TokenSet;
  /** For `failing`/`backing_off`: when it is worth asking again. */
  retryAfterSeconds?: number;
  failure?: OAuthFailure;
}

export interface RefreshRequest {
  trigger: RefreshTrigger;
  /** For `token_request`: the held token must stay valid this long, else refresh. */
  minValiditySeconds?: number;
}

export interface RefresherDependencies {
  store: ProfileStore;
  vault: SecretVault;
  clock: Clock;
  logger: Log;
  events: StatusEvents;
  policy: RefreshPolicy;
  oauth: OAuthOptions;
  authorizationServer: (record: ProfileRecord) => Promise<oauth.AuthorizationServer>;
  /** Injected so that tests never wait on real time. */
  sleep?: (ms: number) => Promise<void>;
  /** How long a lease lasts; longer than one token request plus the vault writes. */
  leaseMs?: number;
  /** How long a caller that lost the lease waits for the winner. */
  maxWaitMs?: number;
  /** Attempts at writing a new token set before it is staged in the store instead. */
  vaultWriteAttempts?: number;
}

const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_MAX_WAIT_MS = 10_000;
const DEFAULT_VAULT_WRITE_ATTEMPTS = 3;
/** Backoff after passing failures: 30 s doubling to 1 h, with jitter, never sooner than `Retry-After`. */
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_CAP_MS = 60 * 60_000;

type Settled = Required<Omit<RefresherDependencies, 'sleep'>> & { sleep: (ms: number) => Promise<void> };

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Refresher {
  readonly #d: Settled;

  constructor(deps: RefresherDependencies) {
    this.#d = {
      sleep: realSleep,
      leaseMs: DEFAULT_LEASE_MS,
      maxWaitMs: DEFAULT_MAX_WAIT_MS,
      vaultWriteAttempts: DEFAULT_VAULT_WRITE_ATTEMPTS,
      ...deps,
    } as Settled;
  }

  /**
   * Refreshes the profile if the trigger's need holds, under the profile's lease. Never throws for an
   * OAuth failure: the outcome and the recorded status say what happened.
   */
  async refresh(profileId: string, request: RefreshRequest): Promise<RefreshResult> {
    const { store, clock } = this.#d;
    const owner = randomUUID();
    const deadline = clock() + this.#d.maxWaitMs;
    let seenVersion: string | null | undefined;
    for (let attempt = 0; ; attempt++) {
      const leased = await store.acquireLease(profileId, owner, { now: clock(), durationMs: this.#d.leaseMs });
      if (leased) return this.#refreshUnderLease(leased, owner, request);

      // Someone else holds the lease: wait for their result instead of refreshing again.
      const current = await store.getProfile(profileId);
      if (!current) return { outcome: 'profile_gone', record: undefined };
      seenVersion ??= current.tokenVersion;
      if (request.trigger === 'schedule') return { outcome: 'lease_busy', record: current };
      if (current.tokenVersion !== seenVersion || !current.lease || current.lease.expiresAt <= clock()) {
        const served = await this.#served(current, request);
        if (served) return served;
        if (current.tokenVersion !== seenVersion) seenVersion = current.tokenVersion;
      }
      if (clock() >= deadline) {
        return { outcome: 'lease_busy', record: current, retryAfterSeconds: 2 };
      }
      await this.#d.sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1000));
    }
  }

  /** After the winner committed: is its token good enough for this caller? */
  async #served(record: ProfileRecord, request: RefreshRequest): Promise<RefreshResult | undefined> {
    if (record.tokenVersion === null || record.stagedTokens) return undefined;
    if (request.trigger === 'admin') {
      return { outcome: 'served_by_other', record };
    }
    const tokens = await this.#d.vault.getTokenSet(record.id, record.tokenVersion);
    if (tokens && this.#satisfies(tokens, request.minValiditySeconds ?? 0)) {
      return { outcome: 'served_by_other', record, tokens };
    }
    return undefined;
  }

  async #refreshUnderLease(record: ProfileRecord, owner: string, request: RefreshRequest): Promise<RefreshResult> {
    let released = false;
    try {
      const result = await this.#decideAndRefresh(record, owner, request);
      released = result.released;
      return result.result;
    } finally {
      if (!released) {
        await this.#d.store.releaseLease(record.id, owner).catch((error: unknown) => {
          // The lease expires by itself; a failed release only delays the next refresh.
          this.#d.logger.warn('lease release failed', { profileId: record.id, ...errorFields(error) });
        });
      }
    }
  }

  async #decideAndRefresh(
    record: ProfileRecord,
    owner: string,
    request: RefreshRequest,
  ): Promise<{ result: RefreshResult; released: boolean }> {
    const { clock, vault } = this.#d;
    const now = clock();
    // Tokens obtained earlier whose vault write failed are put in place before anything else.
    let current = record;
    let tokens: TokenSet | undefined;
    if (record.stagedTokens) {
      const reconciled = await this.#reconcile(record, owner);
      if (!reconciled) return { result: { outcome: 'failing', record }, released: false };
      // The vault still refuses: the staged tokens are still good to serve (not to cache under a version).
      if (!reconciled.written) return { result: { outcome: 'failing', record, tokens: reconciled.tokens }, released: false };
      current = reconciled.record;
      tokens = reconciled.tokens;
      if (request.trigger === 'schedule' && !isDue(current, now)) {
        return { result: { outcome: 'reconciled', record: current, tokens }, released: false };
      }
    }
    const grant = current.config.grantType;
    if (current.tokenVersion === null && grant === 'authorization_code') {
      return { result: { outcome: 'no_grant', record: current }, released: false };
    }
    if (current.status.state === 'authorization_required' && grant === 'authorization_code') {
      return { result: { outcome: 'authorization_required', record: current }, released: false };
    }
    if (current.status.state === 'error' && request.trigger !== 'admin') {
      return { result: { outcome: 'error', record: current }, released: false };
    }
    if (current.tokenVersion !== null && !tokens) {
      tokens = await vault.getTokenSet(current.id, current.tokenVersion);
    }
    // Re-check the need under the lease: another instance may have refreshed a moment ago.
    if (tokens && !this.#needsRefresh(current, tokens, request, now)) {
      return { result: { outcome: 'not_needed', record: current, tokens }, released: false };
    }
    // Respect backoff (and Retry-After) for automatic triggers; a person asking is let through.
    if (request.trigger !== 'admin' && isBackingOff(current, now)) {
      return {
        result: {
          outcome: 'backing_off',
          record: current,
          ...(tokens ? { tokens } : {}),
          retryAfterSeconds: Math.ceil((Date.parse(current.status.nextRefreshAt!) - now) / 1000),
        },
        released: false,
      };
    }
    if (grant === 'authorization_code' && !tokens?.refreshToken) {
      return { result: { outcome: 'no_grant', record: current, ...(tokens ? { tokens } : {}) }, released: false };
    }
    return { result: await this.#grant(current, owner, tokens), released: true };
  }

  #needsRefresh(record: ProfileRecord, tokens: TokenSet, request: RefreshRequest, now: number): boolean {
    switch (request.trigger) {
      case 'admin':
        return true;
      case 'token_request':
        return !this.#satisfies(tokens, request.minValiditySeconds ?? 0) && !isHardFailure(record.status.state);
      case 'schedule':
        return isDue(record, now);
    }
  }

  #satisfies(tokens: TokenSet, minValiditySeconds: number): boolean {
    return Date.parse(tokens.expiresAt) - this.#d.clock() >= minValiditySeconds * 1000;
  }

  /** Asks the token endpoint and records the outcome, all while holding the lease. */
  async #grant(record: ProfileRecord, owner: string, held: TokenSet | undefined): Promise<RefreshResult> {
    const { clock, vault, logger } = this.#d;
    const clientSecret = record.config.clientAuthMethod === 'none' ? undefined : await vault.getClientSecret(record.id);
    let tokens: TokenSet;
    try {
      const as = await this.#d.authorizationServer(record);
      const context = { ...this.#d.oauth, now: clock(), clientSecret };
      tokens =
        record.config.grantType === 'client_credentials'
          ? await requestClientCredentialsToken(as, record.config, context)
          : await refreshAccessToken(as, record.config, held!.refreshToken!, context);
    } catch (error) {
      const failure = classifyOAuthError(error, [clientSecret, held?.refreshToken]);
      return this.#recordFailure(record, owner, held, failure);
    }
    if (held && sameTokenSet(held, tokens)) {
      // Nothing changed: no vault write (Secrets Manager's write quota and version limit).
      const committed = await this.#commit(record, owner, this.#readyStatus(record, tokens), undefined, null);
      return { outcome: 'refreshed', record: committed ?? record, tokens };
    }
    const version = await this.#writeTokens(record, tokens);
    if (version === undefined) {
      // The server has rotated the refresh token: the new set must survive. Stage it on the profile, sealed
      // with a key derived from the refresh token it replaces (which only the vault holds), and reconcile
      // on the next run.
      const staged = held?.refreshToken ? sealStagedTokens(tokens, held.refreshToken, record.id) : null;
      const status: ProfileStatus = {
        ...this.#readyStatus(record, tokens),
        lastError: lastError('vault_write_failed', 'New tokens were obtained but could not be written to the vault; they are kept and will be written on the next run.', clock()),
        nextRefreshAt: new Date(clock()).toISOString(),
      };
      const committed = await this.#commit(record, owner, status, undefined, staged);
      logger.error('token set could not be written to the vault', { profileId: record.id, staged: staged !== null, committed: committed !== undefined });
      return { outcome: 'failing', record: committed ?? record, tokens };
    }
    const committed = await this.#commit(record, owner, this.#readyStatus(record, tokens), version, null);
    if (!committed) {
      logger.error('refresh commit lost the lease', { profileId: record.id });
      return { outcome: 'failing', record, tokens };
    }
    logger.info('token refreshed', {
      profileId: record.id,
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenRotated: held?.refreshToken !== undefined && tokens.refreshToken !== held.refreshToken,
    });
    return { outcome: 'refreshed', record: committed, tokens };
  }

  /**
   * Puts staged tokens in the vault and clears them (`written`); when the vault still fails they stay
   * staged and are returned unwritten. `undefined` when they cannot be opened.
   */
  async #reconcile(record: ProfileRecord, owner: string): Promise<{ record: ProfileRecord; tokens: TokenSet; written: boolean } | undefined> {
    const { vault, logger } = this.#d;
    const previous = record.tokenVersion ? await vault.getTokenSet(record.id, record.tokenVersion) : undefined;
    const tokens = previous?.refreshToken ? openStagedTokens(record.stagedTokens!, previous.refreshToken, record.id) : undefined;
    if (!tokens) {
      logger.error('staged tokens cannot be opened', { profileId: record.id });
      return undefined;
    }
    const version = await this.#writeTokens(record, tokens);
    if (version === undefined) return { record, tokens, written: false };
    const status: ProfileStatus = { ...this.#readyStatus(record, tokens), lastRefreshAt: record.status.lastRefreshAt, lastError: null };
    const committed = await this.#d.store.updateStatus(
      record.id,
      { status, tokenVersion: version, stagedTokens: null },
      { now: new Date(this.#d.clock()).toISOString(), leaseOwner: owner, keepLease: true },
    );
    if (record.status.state !== status.state) {
      await this.#d.events.statusChanged({ profileId: record.id, from: record.status.state, to: status.state, lastError: null });
    }
    logger.info('staged tokens reconciled', { profileId: record.id });
    return { record: committed, tokens, written: true };
  }

  async #writeTokens(record: ProfileRecord, tokens: TokenSet): Promise<string | undefined> {
    const attempts = this.#d.vaultWriteAttempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.#d.vault.putTokenSet(record.id, tokens);
      } catch (error) {
        this.#d.logger.warn('vault write failed', { profileId: record.id, attempt, ...errorFields(error) });
        if (attempt < attempts) await this.#d.sleep(200 * 2 ** (attempt - 1));
      }
    }
    return undefined;
  }

  async #recordFailure(record: ProfileRecord, owner: string, held: TokenSet | undefined, failure: OAuthFailure): Promise<RefreshResult> {
    const now = this.#d.clock();
    const failures = record.status.consecutiveFailures + 1;
    let state: ProfileState;
    let next: string | null = null;
    let retryAfterSeconds: number | undefined;
    switch (failure.kind) {
      case 'authorization_required':
        // A client-credentials profile has no grant a person could renew: the client must be fixed.
        state = record.config.grantType === 'client_credentials' ? 'error' : 'authorization_required';
        break;
      case 'error':
        state = 'error';
        break;
      case 'passing': {
        const heldValid = held !== undefined && Date.parse(held.expiresAt) > now;
        state = heldValid ? 'refresh_failing' : 'expired';
        const delay = backoffMs(failures, failure.retryAfterSeconds);
        next = new Date(now + delay).toISOString();
        retryAfterSeconds = Math.ceil(delay / 1000);
        break;
      }
    }
    const status: ProfileStatus = {
      ...record.status,
      state,
      lastError: lastError(failure.code, failure.message, now),
      consecutiveFailures: failures,
      nextRefreshAt: next,
    };
    const committed = await this.#commit(record, owner, status, undefined, undefined);
    this.#d.logger.warn('refresh failed', { profileId: record.id, reason: failure.code, kind: failure.kind, state, consecutiveFailures: failures, httpStatus: failure.httpStatus });
    const outcome: RefreshOutcome = failure.kind === 'passing' ? 'failing' : failure.kind;
    return { outcome, record: committed ?? record, ...(held ? { tokens: held } : {}), failure, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) };
  }

  /** Writes the status only while holding the lease, releasing it in the same write; signals changes. */
  async #commit(
    record: ProfileRecord,
    owner: string,
    status: ProfileStatus,
    tokenVersion: string | undefined,
    stagedTokens: string | null | undefined,
  ): Promise<ProfileRecord | undefined> {
    try {
      const committed = await this.#d.store.updateStatus(
        record.id,
        { status, ...(tokenVersion !== undefined ? { tokenVersion } : {}), ...(stagedTokens !== undefined ? { stagedTokens } : {}) },
        { now: new Date(this.#d.clock()).toISOString(), leaseOwner: owner },
      );
      if (record.status.state !== status.state) {
        await this.#d.events.statusChanged({ profileId: record.id, from: record.status.state, to: status.state, lastError: status.lastError });
      }
      return committed;
    } catch (error) {
      if (error instanceof ConditionFailedError) return undefined;
      throw error;
    }
  }

  #readyStatus(record: ProfileRecord, tokens: TokenSet): ProfileStatus {
    return readyStatus(record, tokens, this.#d.policy, this.#d.clock(), false);
  }
}

/** The status of a profile that holds a fresh token (after an authorization or a refresh). */
export function readyStatus(record: ProfileRecord, tokens: TokenSet, policy: RefreshPolicy, now: number, authorized: boolean): ProfileStatus {
  const nowIso = new Date(now).toISOString();
  const obtainedAt = Date.parse(tokens.obtainedAt);
  const expiresAt = Date.parse(tokens.expiresAt);
  const clientCredentials = record.config.grantType === 'client_credentials';
  const canRefresh = tokens.refreshToken !== null || clientCredentials;
  return {
    state: 'ready',
    accessTokenExpiresAt: tokens.expiresAt,
    hasRefreshToken: tokens.refreshToken !== null,
    lastRefreshAt: authorized ? record.status.lastRefreshAt : nowIso,
    lastAuthorizedAt: authorized ? nowIso : record.status.lastAuthorizedAt,
    lastError: canRefresh
      ? null
      : lastError(
          'no_refresh_token',
          'The authorization server issued no refresh token, so the token cannot be renewed without a person. Add "offline_access" to the profile\'s scope (some servers also need prompt=consent in authorizationParams) and authorize again.',
          now,
        ),
    consecutiveFailures: 0,
    nextRefreshAt: canRefresh ? new Date(nextRefreshAt(obtainedAt, expiresAt, policy)).toISOString() : null,
  };
}

function lastError(code: string, message: string, now: number): LastError {
  return { code, message, at: new Date(now).toISOString() };
}

function isDue(record: ProfileRecord, now: number): boolean {
  const next = record.status.nextRefreshAt;
  return next !== null && Date.parse(next) <= now;
}

function isBackingOff(record: ProfileRecord, now: number): boolean {
  const state = record.status.state;
  return (state === 'refresh_failing' || state === 'expired') && !isDue(record, now);
}

function isHardFailure(state: ProfileState): boolean {
  return state === 'authorization_required' || state === 'error';
}

export function backoffMs(consecutiveFailures: number, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, consecutiveFailures - 1));
  const jittered = exponential * (0.8 + 0.4 * random());
  return Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
}

function sameTokenSet(a: TokenSet, b: TokenSet): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken && a.expiresAt === b.expiresAt && a.scope === b.scope && a.tokenType === b.tokenType;
}

export { OAuthFailure };
