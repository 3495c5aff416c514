/**
 * Recovering token sets an earlier holder left behind, under the lease: the version a holder recorded as
 * pending but never committed (adopted when the vault has it, else forgotten), and a set staged in the
 * store while the vault was failing (opened with the refresh token it was sealed under, then written).
 * Nothing here asks the authorization server.
 */
import { randomUUID } from 'node:crypto';
import { errorFields } from '../logger.js';
import { adoptedStatus, stagedWriteFailedStatus, stagedWrittenStatus } from '../lifecycle/transitions.js';
import type { TokenSet } from '../ports.js';
import type { ProfileRecord } from '../profile.js';
import { openStagedTokens } from '../staging.js';
import { moment, signal, type RefreshContext } from './context.js';
import type { Lease } from './lease.js';
import { retry } from './retry.js';

/**
 * Adopts the version a previous holder recorded but never committed, when the vault has it (its set holds
 * the rotated refresh token); otherwise forgets it. `undefined` when the lease was lost.
 */
export async function adoptPending(ctx: RefreshContext, lease: Lease): Promise<ProfileRecord | undefined> {
  const record = lease.record;
  const version = record.pendingVersion!;
  const tokens = await ctx.vault.getTokenSet(record.id, version);
  if (!tokens) return lease.keep({ status: record.status, pendingVersion: null });
  const status = adoptedStatus(record, tokens, moment(ctx));
  const adopted = await lease.keep({ status, tokenVersion: version, stagedTokens: null, pendingVersion: null });
  if (adopted) {
    await signal(ctx, record, status);
    ctx.logger.warn('adopted a token set whose commit was lost', { profileId: record.id });
  }
  return adopted;
}

/**
 * Opens the staged set with the refresh token of the set the profile points at (the one it was sealed
 * under). A set that cannot be opened is dropped, so that it cannot block the profile for good.
 */
export async function openStaged(ctx: RefreshContext, lease: Lease): Promise<{ tokens?: TokenSet; record?: ProfileRecord }> {
  const record = lease.record;
  const pointed = record.tokenVersion ? await ctx.vault.getTokenSet(record.id, record.tokenVersion) : undefined;
  const tokens = pointed?.refreshToken ? openStagedTokens(record.stagedTokens!, pointed.refreshToken, record.id) : undefined;
  if (tokens) return { tokens };
  ctx.logger.error('staged tokens cannot be opened and are dropped', { profileId: record.id });
  const dropped = await lease.keep({ status: record.status, stagedTokens: null });
  return dropped ? { record: dropped } : {};
}

/**
 * Writes staged tokens to the vault and clears them, keeping the lease for what follows. When the vault
 * still refuses, records a backoff so the next attempt waits.
 */
export async function reconcile(ctx: RefreshContext, lease: Lease, tokens: TokenSet, deadline: number | undefined): Promise<{ record: ProfileRecord; written: boolean }> {
  const writeId = lease.pendingVersion ?? (await recordNewPending(lease, deadline));
  if (!writeId) return { record: lease.record, written: false };
  const marked = lease.record;
  lease.keepPending();
  const version = await writeTokenSet(ctx, lease, tokens, writeId, deadline);
  if (version === undefined) {
    const { status } = stagedWriteFailedStatus(marked, tokens, moment(ctx));
    const updated = await lease.keep({ status });
    if (!updated) return lost(ctx, marked);
    await signal(ctx, marked, status);
    return { record: updated, written: false };
  }
  const status = stagedWrittenStatus(marked, tokens, moment(ctx));
  const committed = await lease.keep({ status, tokenVersion: version, stagedTokens: null, pendingVersion: null });
  if (!committed) return lost(ctx, marked);
  await signal(ctx, marked, status);
  ctx.logger.info('staged tokens reconciled', { profileId: marked.id });
  return { record: committed, written: true };
}

function lost(ctx: RefreshContext, record: ProfileRecord): { record: ProfileRecord; written: boolean } {
  ctx.logger.warn('staged tokens not reconciled: the lease was lost', { profileId: record.id });
  return { record, written: false };
}

/** Records a fresh pending version; `undefined` when the lease was lost. */
export async function recordNewPending(lease: Lease, deadline: number | undefined): Promise<string | undefined> {
  const version = randomUUID();
  return (await lease.recordPending(version, deadline)) ? version : undefined;
}

/**
 * Writes a token set, retried within the lease and the caller's time; `undefined` when the vault keeps
 * refusing. Every attempt carries the same request token, which becomes the version id: a retry of a
 * write that did land adds no version, and the id recorded as pending names exactly this set.
 */
export async function writeTokenSet(
  ctx: RefreshContext,
  lease: Lease,
  tokens: TokenSet,
  writeId: string,
  deadline: number | undefined,
): Promise<string | undefined> {
  const profileId = lease.record.id;
  try {
    return await retry(() => ctx.vault.putTokenSet(profileId, tokens, { requestToken: writeId }), {
      attempts: ctx.timing.vaultWriteAttempts,
      firstPauseMs: ctx.timing.retryPauseMs,
      deadline: Math.min(lease.expiresAt, deadline ?? Infinity),
      // This write once more, and the commit after it.
      attemptMs: ctx.timing.afterGrantMs,
      clock: ctx.clock,
      sleep: ctx.sleep,
      retryable: () => true,
      onFailure: (error, attempt) => ctx.logger.warn('vault write failed', { profileId, attempt, ...errorFields(error) }),
    });
  } catch {
    return undefined;
  }
}
