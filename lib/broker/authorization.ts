/**
 * The authorization-code flow: `GET /profiles/{id}/authorize-url` starts a pending authorization (fresh
 * state and PKCE verifier, bound to the profile's grant), and `GET /callback` consumes it, exchanges the
 * code and stores the tokens, a person's authorization winning over any refresh in flight.
 */
import { BrokerError, conflict } from '../errors.js';
import { authorizationFailedStatus, authorizedStatus } from '../lifecycle/transitions.js';
import { errorFields } from '../logger.js';
import {
  AuthorizationResponseProblem,
  buildAuthorizationRequest,
  classifyOAuthError,
  exchangeAuthorizationCode,
  redact,
  validateAuthorizationResponse,
} from '../oauth.js';
import { ConditionFailedError, type PendingAuthorization, type TokenSet } from '../ports.js';
import { authorizationBinding, grantIdentity, type ProfileId, type ProfileRecord } from '../profile.js';
import { authorizationServer, readClientSecret, configurationError, nowIso, oauthOptions, requireProfile, type BrokerContext } from './context.js';
import { retry } from '../refresh/retry.js';
import { revoke } from './revocation.js';
import { cache } from './tokens.js';

/** docs/api.md: a pending authorization is valid 10 minutes. */
export const AUTHORIZATION_TTL_SECONDS = 600;

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

/** `GET /profiles/{id}/authorize-url`: starts a pending authorization (fresh state and PKCE verifier). */
export async function createAuthorizationUrl(ctx: BrokerContext, profileId: ProfileId): Promise<{ authorizationUrl: string; callbackUrl: string; expiresAt: string }> {
  const record = await requireProfile(ctx, profileId);
  if (record.config.grantType !== 'authorization_code') {
    throw conflict(
      `Profile "${profileId}" uses the client_credentials grant: it needs no authorization by a person; fetch its token directly.`,
      'not_authorization_code',
    );
  }
  const as = await authorizationServer(ctx, record.config);
  const request = await buildAuthorizationRequest(as, record.config, ctx.deps.callbackUrl, oauthOptions(ctx.deps)).catch((error: unknown) => {
    throw configurationError(ctx, error);
  });
  const now = ctx.deps.clock();
  const expiresAt = new Date(now + AUTHORIZATION_TTL_SECONDS * 1000).toISOString();
  await ctx.deps.store.putPendingAuthorization({
    state: request.state,
    profileId,
    codeVerifier: request.codeVerifier,
    redirectUri: ctx.deps.callbackUrl,
    createdAt: new Date(now).toISOString(),
    expiresAt,
    grant: authorizationBinding(record.config),
  });
  ctx.deps.logger.info('authorization started', { profileId, expiresAt, pkce: request.codeVerifier !== null });
  return { authorizationUrl: request.url.href, callbackUrl: ctx.deps.callbackUrl, expiresAt };
}

/**
 * `GET /callback`: consumes the pending authorization its `state` names (a conditional delete, so each
 * state works once even when two callbacks race, and whatever the callback carries: docs/api.md), then
 * validates the authorization response, exchanges the code and stores the tokens. A callback that fails
 * after its state matched records why as the profile's `status.lastError`.
 */
export async function completeAuthorization(ctx: BrokerContext, parameters: URLSearchParams): Promise<{ profileId: string }> {
  const { store } = ctx.deps;
  const state = parameters.get('state');
  if (!state) {
    throw new CallbackError('missing_state', 'The callback has no "state" parameter, so it cannot be matched to an authorization. Start again from the profile\'s authorization URL.');
  }
  // One conditional delete both finds and uses up the state: exactly one callback gets it.
  const pending = await store.consumePendingAuthorization(state);
  if (!pending) {
    throw new CallbackError('unknown_state', 'This authorization is unknown or was already completed. Start again from the profile\'s authorization URL.');
  }
  try {
    return await completeMatched(ctx, pending, parameters);
  } catch (error) {
    if (error instanceof CallbackError) await recordCallbackFailure(ctx, pending.profileId, error);
    throw error;
  }
}

async function completeMatched(ctx: BrokerContext, pending: PendingAuthorization, parameters: URLSearchParams): Promise<{ profileId: string }> {
  const { store, logger, clock } = ctx.deps;
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
  const as = await authorizationServer(ctx, record.config, { needRevocation: true }).catch((error: unknown) => {
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
  const clientSecret = await readClientSecret(ctx, record);
  let tokens: TokenSet;
  try {
    tokens = await exchangeAuthorizationCode(as, record.config, callbackParameters, pending.redirectUri, pending.codeVerifier, {
      ...oauthOptions(ctx.deps),
      now: clock(),
      clientSecret,
    });
  } catch (error) {
    const failure = classifyOAuthError(error);
    logger.warn('code exchange failed', { profileId, reason: failure.code, kind: failure.kind, httpStatus: failure.httpStatus });
    throw new CallbackError('exchange_refused', `The authorization server did not issue tokens: ${failure.message}`, failure.code);
  }
  if (!(await storeNewTokens(ctx, record, tokens, { authorized: true, clientSecret }))) {
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
async function recordCallbackFailure(ctx: BrokerContext, profileId: string, failure: CallbackError): Promise<void> {
  const { store, logger, clock } = ctx.deps;
  const record = async () => {
    const current = await store.getProfile(profileId);
    if (!current || current.deleting) return;
    const status = authorizationFailedStatus(current, failure.code, failure.message, clock());
    await store.updateStatus(profileId, { status }, { now: nowIso(ctx), expectedRevision: current.revision });
  };
  try {
    // Another write landed between the read and this one: read again and retry at once.
    await retry(record, { attempts: 3, firstPauseMs: 0, deadline: Infinity, attemptMs: 0, clock, sleep: async () => {}, retryable: (error) => error instanceof ConditionFailedError });
  } catch (error) {
    logger.warn('callback failure not recorded on the profile', { profileId, ...errorFields(error) });
  }
}

/**
 * Writes a new token set to the vault first, then points the profile at that version. A person's new
 * authorization wins over a refresh in flight: the write breaks the lease, so that refresh cannot commit.
 * The write is conditional on the profile still existing with the same client and token endpoint;
 * `undefined` when it does not (the secret written for it is removed again if the profile is gone).
 */
async function storeNewTokens(
  ctx: BrokerContext,
  record: ProfileRecord,
  tokens: TokenSet,
  options: { authorized: boolean; clientSecret: string | undefined },
): Promise<ProfileRecord | undefined> {
  const { store, vault, clock, logger } = ctx.deps;
  const version = await vault.putTokenSet(record.id, tokens);
  const status = authorizedStatus(record, tokens, { now: clock(), policy: ctx.policy });
  let updated: ProfileRecord;
  try {
    updated = await store.updateStatus(
      record.id,
      { status, tokenVersion: version, stagedTokens: null },
      { now: nowIso(ctx), fence: 'break', sameGrant: grantIdentity(record.config) },
    );
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
    // Deleted, or its client changed, meanwhile: the new grant will never be used, so it is revoked; a
    // deleted profile's token set, which this write re-created, is removed again (its client secret went
    // with the DELETE).
    await revoke(ctx, record, tokens, options.clientSecret);
    const current = await store.getProfile(record.id);
    if (!current || current.deleting) await vault.deleteTokenSet(record.id);
    logger.warn('new tokens not stored: the profile changed', { profileId: record.id, deleted: !current || current.deleting === true });
    return undefined;
  }
  if (record.status.state !== status.state) {
    await ctx.events.statusChanged({ profileId: record.id, from: record.status.state, to: status.state, lastError: status.lastError });
  }
  cache(ctx, updated, tokens, version);
  return updated;
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
