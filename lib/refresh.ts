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
import { usesClientSecret, type LastError, type ProfileRecord, type ProfileState, type ProfileStatus } from './profile.js';
import { minimumRefreshGapMs, nextRefreshAt, secondsUntilNextRefresh, type RefreshPolicy } from './schedule.js';
import { openStagedTokens, sealStagedTokens } from './staging.js';
import type { StatusEvents } from './events.js';
import { MAX_RETRY_AFTER_SECONDS } from './shared.js';

export type RefreshTrigger = 'schedule' | 'token_request' | 'admin';

/** Machine-readable outcomes, counted by the scheduled job and the metrics. */
export type RefreshOutcome =
  | 'refreshed'
  | 'not_needed'
  | 'served_by_other'
  | 'lease_busy'
  | 'no_time'
  | 'backing_off'
  | 'no_grant'
  | 'authorization_required'
  | 'error'
  | 'failing'
  | 'reconciled'
  | 'profile_gone'
  /** A token request found a refresh started too recently (docs/api.md "bounded refreshing"). */
  | 'throttled';

export interface RefreshResult {
  outcome: RefreshOutcome;
  record: ProfileRecord | undefined;
  /** A token set worth serving, when one was read or obtained. */
  tokens?: TokenSet;
  /** The vault version of `tokens`, when the profile points at exactly that version. */
  tokensVersion?: string;
  /** For `failing`/`backing_off`/`lease_busy`: when it is worth asking again. */
  retryAfterSeconds?: number;
  failure?: OAuthFailure;
}

export interface RefreshRequest {
  trigger: RefreshTrigger;
  /** For `token_request`: the held token must stay valid this long, else refresh. */
  minValiditySeconds?: number;
  /**
   * Epoch milliseconds by which the caller must be done (a Lambda's remaining time). No grant is started
   * that could outlive it: a function killed after the server rotated a refresh token would lose it.
   */
  deadline?: number;
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
  random?: () => number;
  /** Best-effort revocation of tokens obtained for a profile deleted meanwhile. */
  revoke?: (record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined) => Promise<void>;
}

const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_MAX_WAIT_MS = 10_000;
const DEFAULT_VAULT_WRITE_ATTEMPTS = 3;
const DEFAULT_OAUTH_TIMEOUT_MS = 10_000;
/**
 * Time kept after a token request for the vault write (or staging) and the commit: two AWS calls, each
 * bounded by the clients' settings in lib/composition.ts (at most 1 s + 3 s per attempt); a vault write
 * that would overrun stops retrying and the set is staged instead.
 */
const AFTER_GRANT_MS = 8_000;
const COMMIT_ATTEMPTS = 3;
/**
 * Backoff after passing failures: 30 s doubling to 1 h, with jitter, never sooner than `Retry-After`, and
 * never later than 1 h whatever the jitter or the server asked (docs/api.md).
 */
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_CAP_MS = 60 * 60_000;

type Settled = Required<Omit<RefresherDependencies, 'sleep' | 'random' | 'revoke'>> & {
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  revoke: NonNullable<RefresherDependencies['revoke']>;
};

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Refresher {
  readonly #d: Settled;

  constructor(deps: RefresherDependencies) {
    this.#d = {
      sleep: realSleep,
      random: Math.random,
      revoke: async () => {},
      leaseMs: DEFAULT_LEASE_MS,
      maxWaitMs: DEFAULT_MAX_WAIT_MS,
      vaultWriteAttempts: DEFAULT_VAULT_WRITE_ATTEMPTS,
      ...deps,
    } as Settled;
  }

  /** A token request plus what must follow it before the lease or the caller's time runs out. */
  get #grantBudgetMs(): number {
    return (this.#d.oauth.timeoutMs ?? DEFAULT_OAUTH_TIMEOUT_MS) + AFTER_GRANT_MS;
  }

  /**
   * Refreshes the profile if the trigger's need holds, under the profile's lease. Never throws for an
   * OAuth failure: the outcome and the recorded status say what happened.
   */
  async refresh(profileId: string, request: RefreshRequest): Promise<RefreshResult> {
    const { store, clock } = this.#d;
    const owner = randomUUID();
    const leaseOptions = () => ({ now: clock(), durationMs: this.#d.leaseMs });
    const leased = await store.acquireLease(profileId, owner, leaseOptions());
    if (leased) return this.#refreshUnderLease(leased, owner, request);

    // Someone else holds the lease: wait for their result instead of refreshing again. Reads while the
    // lease is held; a conditional write only once it is free.
    const waitUntil = Math.min(clock() + this.#d.maxWaitMs, request.deadline !== undefined ? request.deadline - this.#grantBudgetMs : Infinity);
    let seenVersion: string | null | undefined;
    for (let attempt = 0; ; attempt++) {
      const current = await store.getProfile(profileId);
      if (!current || current.deleting) return { outcome: 'profile_gone', record: undefined };
      if (request.trigger === 'schedule') return { outcome: 'lease_busy', record: current };
      seenVersion ??= current.tokenVersion;
      const leaseFree = !current.lease || current.lease.expiresAt <= clock();
      if (current.tokenVersion !== seenVersion || leaseFree) {
        const served = await this.#served(current, request);
        if (served) return served;
        seenVersion = current.tokenVersion;
      }
      if (leaseFree) {
        const taken = await store.acquireLease(profileId, owner, leaseOptions());
        if (taken) return this.#refreshUnderLease(taken, owner, request);
      }
      if (clock() >= waitUntil) return { outcome: 'lease_busy', record: current, retryAfterSeconds: 2 };
      await this.#d.sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1000));
    }
  }

  /** After the winner committed: is its token good enough for this caller? */
  async #served(record: ProfileRecord, request: RefreshRequest): Promise<RefreshResult | undefined> {
    if (record.tokenVersion === null || record.stagedTokens) return undefined;
    if (request.trigger === 'admin') return { outcome: 'served_by_other', record };
    const tokens = await this.#d.vault.getTokenSet(record.id, record.tokenVersion);
    if (tokens && this.#satisfies(tokens, request.minValiditySeconds ?? 0)) {
      return { outcome: 'served_by_other', record, tokens, tokensVersion: record.tokenVersion };
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
      if (!released) await this.#release(record, owner);
    }
  }

  async #decideAndRefresh(
    record: ProfileRecord,
    owner: string,
    request: RefreshRequest,
  ): Promise<{ result: RefreshResult; released: boolean }> {
    const { clock, vault } = this.#d;
    const now = clock();
    const keep = (result: RefreshResult) => ({ result, released: false });

    // A previous holder recorded a version it was about to write, and never committed: adopt it if the vault
    // has it (its set holds the rotated refresh token), else forget it.
    let current = record.pendingVersion ? await this.#adoptPending(record, owner) : record;
    if (!current) return keep({ outcome: 'profile_gone', record: undefined });

    // Tokens obtained while the vault was failing are written before anything else, when due (so a
    // failing vault is not retried on every token request) or when a person asks.
    let held: TokenSet | undefined;
    if (current.stagedTokens) {
      const staged = await this.#openStaged(current, owner);
      if (staged.record) current = staged.record;
      if (staged.tokens) {
        if (request.trigger !== 'admin' && !isDue(current, now)) {
          return keep({ outcome: 'failing', record: current, tokens: staged.tokens, ...retryAfter(current, now) });
        }
        const reconciled = await this.#reconcile(current, owner, staged.tokens, request);
        if (!reconciled.written) {
          return keep({ outcome: 'failing', record: reconciled.record, tokens: staged.tokens, ...retryAfter(reconciled.record, now) });
        }
        current = reconciled.record;
        held = staged.tokens;
        if (request.trigger === 'schedule' && !isDue(current, now)) {
          return keep({ outcome: 'reconciled', record: current, tokens: held, ...(current.tokenVersion ? { tokensVersion: current.tokenVersion } : {}) });
        }
      }
    }

    const grant = current.config.grantType;
    if (current.tokenVersion === null && grant === 'authorization_code') return keep({ outcome: 'no_grant', record: current });
    if (current.status.state === 'authorization_required' && grant === 'authorization_code') {
      return keep({ outcome: 'authorization_required', record: current });
    }
    if (current.status.state === 'error' && request.trigger !== 'admin') return keep({ outcome: 'error', record: current });
    if (!held && current.tokenVersion !== null) held = await vault.getTokenSet(current.id, current.tokenVersion);
    const heldVersion = current.tokenVersion ?? undefined;
    // Re-checked here, under the lease, on the record just read: consumers on any number of instances
    // start at most one refresh per window, and the waiters of that refresh get its token.
    if (request.trigger === 'token_request' && held && !this.#satisfies(held, request.minValiditySeconds ?? 0)) {
      const notBefore = refreshNotBefore(current, held);
      if (now < notBefore) {
        // A ready profile serves its held token meanwhile; a failing one answers as it backs off.
        return keep({
          outcome: current.status.state === 'ready' ? 'throttled' : 'backing_off',
          record: current,
          tokens: held,
          ...(heldVersion ? { tokensVersion: heldVersion } : {}),
          retryAfterSeconds: Math.max(1, Math.ceil((notBefore - now) / 1000)),
        });
      }
    }
    if (held && !this.#needsRefresh(current, held, request, now)) {
      return keep({ outcome: 'not_needed', record: current, tokens: held, ...(heldVersion ? { tokensVersion: heldVersion } : {}) });
    }
    // Respect backoff (and Retry-After) for automatic triggers; a person asking is let through.
    if (request.trigger !== 'admin' && isBackingOff(current, now)) {
      return keep({ outcome: 'backing_off', record: current, ...(held ? { tokens: held } : {}), ...retryAfter(current, now) });
    }
    if (grant === 'authorization_code' && !held?.refreshToken) {
      return keep({ outcome: 'no_grant', record: current, ...(held ? { tokens: held } : {}) });
    }
    return { result: await this.#grant(current, owner, held, request), released: true };
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

  /** Whether a grant started now would end, vault write and commit included, within the lease and the caller's time. */
  #timeForGrant(record: ProfileRecord, request: RefreshRequest): boolean {
    const now = this.#d.clock();
    const leaseEnds = record.lease?.expiresAt ?? now + this.#d.leaseMs;
    const ends = Math.min(leaseEnds, request.deadline ?? Infinity);
    return ends - now >= this.#grantBudgetMs;
  }

  /** Asks the token endpoint and records the outcome, all while holding the lease. */
  async #grant(record: ProfileRecord, owner: string, held: TokenSet | undefined, request: RefreshRequest): Promise<RefreshResult> {
    const { clock, vault, logger } = this.#d;
    const clientSecret = usesClientSecret(record.config.clientAuthMethod) ? await vault.getClientSecret(record.id) : undefined;
    let as: oauth.AuthorizationServer;
    try {
      as = await this.#d.authorizationServer(record);
    } catch (error) {
      return this.#recordFailure(record, owner, held, classifyOAuthError(error, [clientSecret]));
    }
    if (!this.#timeForGrant(record, request)) {
      await this.#release(record, owner);
      return { outcome: 'no_time', record, ...(held ? { tokens: held } : {}), retryAfterSeconds: 2 };
    }
    // Recorded before the token endpoint is asked: whatever happens after the server answers, the next
    // holder knows which vault version holds the new set. (A store failure here is not the server's.)
    const writeId = randomUUID();
    const marked = await this.#markPending(record, owner, writeId);
    if (!marked) return { outcome: 'lease_busy', record, ...(held ? { tokens: held } : {}), retryAfterSeconds: 2 };
    let tokens: TokenSet;
    try {
      const context = { ...this.#d.oauth, now: clock(), clientSecret };
      tokens =
        record.config.grantType === 'client_credentials'
          ? await requestClientCredentialsToken(as, record.config, context)
          : await refreshAccessToken(as, record.config, held!.refreshToken!, context);
    } catch (error) {
      const failure = classifyOAuthError(error, [clientSecret, held?.refreshToken]);
      return this.#recordFailure(marked, owner, held, failure, { pendingVersion: null });
    }
    if (held && sameTokenSet(held, tokens)) {
      // Nothing changed: no vault write (Secrets Manager's write quota and version limit).
      const committed = await this.#commit(marked, owner, this.#readyStatus(marked, tokens), { pendingVersion: null });
      return { outcome: 'refreshed', record: committed ?? marked, tokens, ...(committed?.tokenVersion ? { tokensVersion: committed.tokenVersion } : {}) };
    }
    const version = await this.#writeTokens(marked, tokens, writeId, request);
    if (version === undefined) return this.#keepUnwritten(marked, owner, held, tokens, clientSecret);
    const committed = await this.#commit(marked, owner, this.#readyStatus(marked, tokens), { tokenVersion: version, stagedTokens: null, pendingVersion: null });
    if (!committed) {
      // The profile still names the pending version, so the next holder adopts the new set; a profile
      // deleted meanwhile loses the re-created secret, and its new grant is revoked.
      logger.error('refresh commit failed after the vault write', { profileId: record.id });
      await this.#cleanUpIfGone(record, tokens, clientSecret);
      return { outcome: 'failing', record: marked, tokens };
    }
    logger.info('token refreshed', {
      profileId: record.id,
      accessTokenExpiresAt: tokens.expiresAt,
      refreshTokenRotated: held?.refreshToken !== undefined && tokens.refreshToken !== held.refreshToken,
    });
    return { outcome: 'refreshed', record: committed, tokens, tokensVersion: version };
  }

  /**
   * Records the version about to be written, keeping the lease (throttling is retried a few times);
   * `undefined` when the lease was lost, and then nothing may be asked of the token endpoint.
   */
  async #markPending(record: ProfileRecord, owner: string, writeId: string): Promise<ProfileRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#d.store.updateStatus(
          record.id,
          { status: record.status, pendingVersion: writeId, lastGrantAt: new Date(this.#d.clock()).toISOString() },
          { now: new Date(this.#d.clock()).toISOString(), leaseOwner: owner, keepLease: true },
        );
      } catch (error) {
        if (error instanceof ConditionFailedError) return undefined;
        if (attempt >= COMMIT_ATTEMPTS) throw error;
        this.#d.logger.warn('pending version not recorded', { profileId: record.id, attempt, ...errorFields(error) });
        await this.#d.sleep(200 * 2 ** (attempt - 1));
      }
    }
  }

  /**
   * Adopts the version a previous holder recorded but never committed, when the vault has it (the staged
   * set it stood for, if any, is then written); otherwise forgets it. Keeps the lease.
   */
  async #adoptPending(record: ProfileRecord, owner: string): Promise<ProfileRecord | undefined> {
    const { store, vault, clock, logger } = this.#d;
    const version = record.pendingVersion!;
    const tokens = await vault.getTokenSet(record.id, version);
    const nowIso = new Date(clock()).toISOString();
    try {
      if (!tokens) {
        return await store.updateStatus(record.id, { status: record.status, pendingVersion: null }, { now: nowIso, leaseOwner: owner, keepLease: true });
      }
      const status: ProfileStatus = { ...this.#readyStatus(record, tokens), lastRefreshAt: new Date(Date.parse(tokens.obtainedAt)).toISOString() };
      const adopted = await store.updateStatus(
        record.id,
        { status, tokenVersion: version, stagedTokens: null, pendingVersion: null },
        { now: nowIso, leaseOwner: owner, keepLease: true },
      );
      await this.#signal(record, status);
      logger.warn('adopted a token set whose commit was lost', { profileId: record.id });
      return adopted;
    } catch (error) {
      if (error instanceof ConditionFailedError) return undefined;
      throw error;
    }
  }

  /**
   * The vault refused the new set. A rotated refresh token must survive: it is staged on the profile,
   * sealed with a key derived from the refresh token it replaces (the one the profile points at, which only
   * the vault holds), and written on the next run. The pending version stays recorded, in case the write
   * did land although it reported a failure. Without a refresh token (client credentials) nothing is lost
   * but the access token, which this caller still gets.
   */
  async #keepUnwritten(
    record: ProfileRecord,
    owner: string,
    held: TokenSet | undefined,
    tokens: TokenSet,
    clientSecret: string | undefined,
  ): Promise<RefreshResult> {
    const { clock, logger } = this.#d;
    const now = clock();
    const failures = record.status.consecutiveFailures + 1;
    const delay = backoffMs(failures, undefined, this.#d.random);
    const staged = held?.refreshToken ? sealStagedTokens(tokens, held.refreshToken, record.id) : null;
    const vaultError = lastError('vault_write_failed', 'New tokens were obtained but could not be written to the vault; they are kept and will be written on the next run.', now);
    const status: ProfileStatus = staged
      ? { ...this.#readyStatus(record, tokens), lastError: vaultError, consecutiveFailures: failures, nextRefreshAt: new Date(now + delay).toISOString() }
      : {
          ...record.status,
          state: held && Date.parse(held.expiresAt) > now ? 'refresh_failing' : 'expired',
          lastError: lastError('vault_write_failed', 'A new token was obtained but could not be written to the vault; it will be requested again.', now),
          consecutiveFailures: failures,
          nextRefreshAt: new Date(now + delay).toISOString(),
        };
    const committed = await this.#commit(record, owner, status, { stagedTokens: staged });
    logger.error('token set could not be written to the vault', { profileId: record.id, staged: staged !== null, committed: committed !== undefined });
    if (!committed) await this.#cleanUpIfGone(record, tokens, clientSecret);
    return { outcome: 'failing', record: committed ?? record, tokens, retryAfterSeconds: Math.ceil(delay / 1000) };
  }

  /**
   * Opens the staged set with the refresh token of the set the profile points at (the one it was sealed
   * under). A set that cannot be opened is dropped, so that it cannot block the profile for good.
   */
  async #openStaged(record: ProfileRecord, owner: string): Promise<{ tokens?: TokenSet; record?: ProfileRecord }> {
    const { vault, store, clock, logger } = this.#d;
    const pointed = record.tokenVersion ? await vault.getTokenSet(record.id, record.tokenVersion) : undefined;
    const tokens = pointed?.refreshToken ? openStagedTokens(record.stagedTokens!, pointed.refreshToken, record.id) : undefined;
    if (tokens) return { tokens };
    logger.error('staged tokens cannot be opened and are dropped', { profileId: record.id });
    try {
      const dropped = await store.updateStatus(
        record.id,
        { status: record.status, stagedTokens: null },
        { now: new Date(clock()).toISOString(), leaseOwner: owner, keepLease: true },
      );
      return { record: dropped };
    } catch (error) {
      if (error instanceof ConditionFailedError) return {};
      throw error;
    }
  }

  /**
   * Writes staged tokens to the vault and clears them, keeping the lease for what follows. When the vault
   * still refuses, records a backoff so the next attempt waits.
   */
  async #reconcile(
    record: ProfileRecord,
    owner: string,
    tokens: TokenSet,
    request: RefreshRequest,
  ): Promise<{ record: ProfileRecord; written: boolean }> {
    const { store, clock, logger } = this.#d;
    const writeId = randomUUID();
    const marked = await this.#markPending(record, owner, writeId);
    if (!marked) return { record, written: false };
    const version = await this.#writeTokens(marked, tokens, writeId, request);
    const nowIso = new Date(clock()).toISOString();
    try {
      if (version === undefined) {
        const failures = marked.status.consecutiveFailures + 1;
        const now = clock();
        const status: ProfileStatus = {
          ...marked.status,
          state: Date.parse(tokens.expiresAt) > now ? marked.status.state : 'expired',
          consecutiveFailures: failures,
          nextRefreshAt: new Date(now + backoffMs(failures, undefined, this.#d.random)).toISOString(),
        };
        const updated = await store.updateStatus(record.id, { status }, { now: nowIso, leaseOwner: owner, keepLease: true });
        await this.#signal(marked, status);
        return { record: updated, written: false };
      }
      const status: ProfileStatus = { ...this.#readyStatus(marked, tokens), lastRefreshAt: marked.status.lastRefreshAt, lastError: null };
      const committed = await store.updateStatus(
        record.id,
        { status, tokenVersion: version, stagedTokens: null, pendingVersion: null },
        { now: nowIso, leaseOwner: owner, keepLease: true },
      );
      await this.#signal(marked, status);
      logger.info('staged tokens reconciled', { profileId: record.id });
      return { record: committed, written: true };
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      logger.warn('staged tokens not reconciled: the lease was lost', { profileId: record.id });
      return { record: marked, written: false };
    }
  }

  /**
   * Bounded retries within the caller's time; `undefined` when the vault keeps refusing. Every attempt
   * carries the same request token, which becomes the version id: a retry of a write that did land adds no
   * version, and the id recorded as pending names exactly this set.
   */
  async #writeTokens(record: ProfileRecord, tokens: TokenSet, writeId: string, request: RefreshRequest): Promise<string | undefined> {
    const { clock, logger } = this.#d;
    const attempts = this.#d.vaultWriteAttempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.#d.vault.putTokenSet(record.id, tokens, { requestToken: writeId });
      } catch (error) {
        logger.warn('vault write failed', { profileId: record.id, attempt, ...errorFields(error) });
        const pause = 200 * 2 ** (attempt - 1);
        const timeLeft = Math.min(record.lease?.expiresAt ?? Infinity, request.deadline ?? Infinity) - clock();
        if (attempt === attempts || timeLeft < pause + AFTER_GRANT_MS) break;
        await this.#d.sleep(pause);
      }
    }
    return undefined;
  }

  async #recordFailure(
    record: ProfileRecord,
    owner: string,
    held: TokenSet | undefined,
    failure: OAuthFailure,
    pointers: { pendingVersion?: null } = {},
  ): Promise<RefreshResult> {
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
        const delay = backoffMs(failures, failure.retryAfterSeconds, this.#d.random);
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
    const committed = await this.#commit(record, owner, status, pointers);
    this.#d.logger.warn('refresh failed', { profileId: record.id, reason: failure.code, kind: failure.kind, state, consecutiveFailures: failures, httpStatus: failure.httpStatus });
    const outcome: RefreshOutcome = failure.kind === 'passing' ? 'failing' : failure.kind;
    return { outcome, record: committed ?? record, ...(held ? { tokens: held } : {}), failure, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) };
  }

  /** Releases the lease, best effort: it expires by itself, so a failed release only delays the next refresh. */
  async #release(record: ProfileRecord, owner: string): Promise<void> {
    await this.#d.store.releaseLease(record.id, owner).catch((error: unknown) => {
      this.#d.logger.warn('lease release failed', { profileId: record.id, ...errorFields(error) });
    });
  }

  /**
   * Writes the status only while holding the lease, releasing it in the same write; signals changes.
   * Throttling or a network error is retried a few times; when it keeps failing the lease is released
   * (best effort) so that others need not wait for it to expire.
   */
  async #commit(
    record: ProfileRecord,
    owner: string,
    status: ProfileStatus,
    pointers: { tokenVersion?: string | undefined; stagedTokens?: string | null; pendingVersion?: string | null },
  ): Promise<ProfileRecord | undefined> {
    const update = {
      status,
      ...(pointers.tokenVersion !== undefined ? { tokenVersion: pointers.tokenVersion } : {}),
      ...(pointers.stagedTokens !== undefined ? { stagedTokens: pointers.stagedTokens } : {}),
      ...(pointers.pendingVersion !== undefined ? { pendingVersion: pointers.pendingVersion } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const committed = await this.#d.store.updateStatus(record.id, update, { now: new Date(this.#d.clock()).toISOString(), leaseOwner: owner });
        await this.#signal(record, status);
        return committed;
      } catch (error) {
        if (error instanceof ConditionFailedError) return undefined;
        this.#d.logger.warn('status commit failed', { profileId: record.id, attempt, ...errorFields(error) });
        if (attempt >= COMMIT_ATTEMPTS) {
          await this.#release(record, owner);
          return undefined;
        }
        await this.#d.sleep(200 * 2 ** (attempt - 1));
      }
    }
  }

  async #signal(record: ProfileRecord, status: ProfileStatus): Promise<void> {
    if (record.status.state !== status.state) {
      await this.#d.events.statusChanged({ profileId: record.id, from: record.status.state, to: status.state, lastError: status.lastError });
    }
  }

  /**
   * A profile deleted while a refresh was in flight must not keep the grant it just rotated, nor a
   * re-created secret: the new tokens are revoked (best effort) and its secrets removed again, unless a
   * profile of the same id was created again meanwhile.
   */
  async #cleanUpIfGone(record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined): Promise<void> {
    const profileId = record.id;
    const gone = async () => {
      const current = await this.#d.store.getProfile(profileId);
      return !current || current.deleting === true;
    };
    try {
      if (!(await gone())) return;
      await this.#d.revoke(record, tokens, clientSecret);
      if (!(await gone())) return;
      await this.#d.vault.deleteProfileSecrets(profileId);
      this.#d.logger.warn('tokens of a deleted profile revoked and removed', { profileId });
    } catch (error) {
      this.#d.logger.error('cleanup after a lost commit failed', { profileId, ...errorFields(error) });
    }
  }

  #readyStatus(record: ProfileRecord, tokens: TokenSet): ProfileStatus {
    return readyStatus(record, tokens, this.#d.policy, this.#d.clock(), false);
  }
}

/**
 * docs/api.md "bounded refreshing": the earliest moment a token request may start another refresh of a
 * profile: max(30 s, 10 % of the held token's lifetime) after the later of the last grant started (by any
 * instance, recorded on the profile) and the moment the held token was obtained.
 */
export function refreshNotBefore(record: Pick<ProfileRecord, 'lastGrantAt'>, held: Pick<TokenSet, 'obtainedAt' | 'expiresAt'> | undefined): number {
  const obtainedAt = held ? Date.parse(held.obtainedAt) : NaN;
  const lastGrant = record.lastGrantAt ? Date.parse(record.lastGrantAt) : NaN;
  const starts = [obtainedAt, lastGrant].filter((t) => Number.isFinite(t));
  if (starts.length === 0) return -Infinity;
  const lifetime = held ? Math.max(0, Date.parse(held.expiresAt) - obtainedAt) : 0;
  return Math.max(...starts) + minimumRefreshGapMs(Number.isFinite(lifetime) ? lifetime : 0);
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
  const asked = Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, retryAfterSeconds ?? 0)) * 1000;
  return Math.min(BACKOFF_CAP_MS, Math.max(jittered, asked));
}

/** The same answer again (an idempotent server): `expiresAt` is derived from the clock, so it is not compared. */
function sameTokenSet(a: TokenSet, b: TokenSet): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken && a.scope === b.scope && a.tokenType === b.tokenType;
}

function retryAfter(record: ProfileRecord, now: number): { retryAfterSeconds?: number } {
  const seconds = secondsUntilNextRefresh(record.status, now);
  return seconds === undefined ? {} : { retryAfterSeconds: seconds };
}
