/**
 * The profile use cases: `PUT`, `GET` and `DELETE /profiles/{id}` and `GET /profiles`. Inputs arrive
 * validated (lib/broker.ts); every check against what is stored happens before anything is written.
 */
import { conflict, invalidRequest, notFound } from '../errors.js';
import { errorFields } from '../logger.js';
import { editedStatus, newProfileStatus } from '../lifecycle/transitions.js';
import { ConditionFailedError, type TokenSet } from '../ports.js';
import {
  changedGrantFields,
  grantIdentity,
  movedEndpoints,
  tokensSurviveChange,
  usesClientSecret,
  type ProfileConfig,
  type ProfileId,
  type ProfileRecord,
  type ProfileView,
} from '../profile.js';
import { profileView, readClientSecret, nowIso, requireProfile, requireSigningKeys, type BrokerContext } from './context.js';
import { heldTokenSets, revoke, revokeHeldGrant } from './revocation.js';

/** A validated `PUT /profiles/{id}` body. */
export interface ProfileInput {
  config: ProfileConfig;
  clientSecret: string | undefined;
}

/** `PUT /profiles/{id}`: validates everything before anything is written. */
export async function putProfile(ctx: BrokerContext, profileId: ProfileId, input: ProfileInput): Promise<{ created: boolean; view: ProfileView }> {
  const { config, clientSecret } = input;
  const { store, vault, logger } = ctx.deps;
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
  if (config.clientAuthMethod === 'private_key_jwt') await requireSigningKeys(ctx, config).ensureCurrent(config.clientAssertionAlgorithm ?? 'ES256');
  const now = nowIso(ctx);
  const keepTokens = existing !== undefined && tokensSurviveChange(existing.config, config);
  const secretChanged = clientSecret !== undefined && (!existing?.hasClientSecret || (await vault.getClientSecret(profileId)) !== clientSecret);
  // Tokens the edit discards are revoked at the server that issued them, with the client they were
  // issued to: read before anything is written, revoked once the edit is stored.
  const { discarded, previousSecret } = existing && !keepTokens ? await tokensToRevoke(ctx, existing) : { discarded: [], previousSecret: undefined };
  const record: ProfileRecord = {
    id: profileId,
    config,
    hasClientSecret,
    // An edit gives a profile in error another chance; discarded tokens start it again (lib/lifecycle).
    status: keepTokens ? editedStatus(existing, now) : newProfileStatus(config.grantType, now),
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
    await store.putProfile(record, existing ? existing.revision : null, grantIdentity(record.config));
  } catch (error) {
    if (error instanceof ConditionFailedError) {
      throw conflict(`Profile "${profileId}" was changed by another request at the same time; read it again and retry.`, 'concurrent_update');
    }
    throw error;
  }
  if (!keepTokens) ctx.tokens.delete(profileId);
  try {
    // The secret goes after the conditional write, so a request that lost a race (409) changes nothing. If
    // this write fails the request fails (500) and the same PUT, repeated, completes it.
    // An unchanged secret is not written again (Secrets Manager's write quota and version limit).
    if (secretChanged) await vault.putClientSecret(profileId, clientSecret!);
    // A secret the profile no longer uses (private_key_jwt, a public client) is not kept: nothing may send
    // it again, and giving the method back asks for a secret anew. Best effort: the profile is saved, and a
    // secret left behind goes with the profile.
    if (existing?.hasClientSecret && !hasClientSecret) await dropClientSecret(ctx, profileId);
  } finally {
    // Revocation waits for the server (seconds): it comes after the secret is in place, so a refresh started
    // meanwhile finds the secret given for the new endpoints, never the old one. It happens even when the
    // secret write failed: the stored profile no longer points at these tokens, so no later request could.
    for (const tokens of discarded) await revoke(ctx, existing!, tokens, previousSecret);
  }
  const changed = existing ? [...changedGrantFields(existing.config, config), ...(secretChanged ? ['clientSecret'] : [])] : [];
  if (existing && changed.length > 0) {
    await ctx.events.statusChanged({
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
  return { created: existing === undefined, view: await profileView(ctx, record) };
}

/**
 * The token sets an edit discards and the client secret they were issued to, read before anything is
 * written. Best effort: a vault that fails here (or a set that no longer opens) must not block the edit
 * that repairs the profile; the tokens are then left to expire.
 */
async function tokensToRevoke(ctx: BrokerContext, existing: ProfileRecord): Promise<{ discarded: TokenSet[]; previousSecret: string | undefined }> {
  try {
    const discarded = await heldTokenSets(ctx, existing);
    return { discarded, previousSecret: discarded.length > 0 ? await readClientSecret(ctx, existing) : undefined };
  } catch (error) {
    ctx.deps.logger.warn('discarded tokens not revoked: they could not be read', { profileId: existing.id, ...errorFields(error) });
    return { discarded: [], previousSecret: undefined };
  }
}

async function dropClientSecret(ctx: BrokerContext, profileId: ProfileId): Promise<void> {
  try {
    await ctx.deps.vault.deleteClientSecret(profileId);
  } catch (error) {
    ctx.deps.logger.warn('client secret not removed', { profileId, ...errorFields(error) });
  }
}

/** `GET /profiles/{id}`. */
export async function getProfile(ctx: BrokerContext, profileId: ProfileId): Promise<ProfileView> {
  return profileView(ctx, await requireProfile(ctx, profileId));
}

/** `GET /profiles`. */
export async function listProfiles(ctx: BrokerContext): Promise<ProfileView[]> {
  const records = await ctx.deps.store.listProfiles();
  return Promise.all(records.filter((record) => !record.deleting).map((record) => profileView(ctx, record)));
}

/**
 * `DELETE /profiles/{id}`: first marks the profile as being deleted (breaking any lease, so no refresh or
 * callback in flight can commit), then removes pending authorizations, revokes the grant and removes the
 * secrets, and the profile last, so that a retry can finish a deletion that failed half-way.
 */
export async function deleteProfile(ctx: BrokerContext, profileId: ProfileId): Promise<void> {
  const { store, vault, logger } = ctx.deps;
  const record = await requireProfile(ctx, profileId, { deleting: 'include' });
  if (!(await store.markDeleting(profileId))) throw notFound(`Profile "${profileId}" does not exist.`);
  ctx.tokens.delete(profileId);
  const pending = await store.deletePendingAuthorizations(profileId);
  await revokeHeldGrant(ctx, record);
  await vault.deleteProfileSecrets(profileId);
  await store.deleteProfile(profileId);
  ctx.tokens.delete(profileId);
  logger.info('profile deleted', { profileId, pendingAuthorizationsDeleted: pending });
}
