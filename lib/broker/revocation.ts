/**
 * Revoking a profile's tokens (RFC 7009), best effort: every set that may hold its live grant, each at the
 * revocation endpoint recorded with it. Used by DELETE, by an edit that discards tokens, by a callback
 * that lost to an edit, and by a refresh that finds its profile deleted.
 */
import { errorFields } from '../logger.js';
import { classifyOAuthError, resolveAuthorizationServer, revocationServer, revokeToken } from '../oauth.js';
import type { TokenSet } from '../ports.js';
import type { ProfileRecord } from '../profile.js';
import { openStagedTokens } from '../staging.js';
import { readClientSecret, oauthOptions, type BrokerContext } from './context.js';

/** Revocation on DELETE must not hold up the deletion for long. */
const REVOCATION_TIMEOUT_MS = 3000;

/**
 * Best effort (RFC 7009 §2): revokes the refresh token, else the access token, of every set that may
 * hold the live grant, each at the revocation endpoint recorded with it. The outcome is logged, never thrown.
 */
export async function revokeHeldGrant(ctx: BrokerContext, record: ProfileRecord): Promise<void> {
  try {
    const clientSecret = await readClientSecret(ctx, record);
    for (const tokens of await heldTokenSets(ctx, record)) await revoke(ctx, record, tokens, clientSecret);
  } catch (error) {
    ctx.deps.logger.warn('token revocation failed', { profileId: record.id, ...errorFields(error) });
  }
}

/**
 * Every set that may hold a profile's live grant: a staged one (the vault was failing), one a holder
 * recorded as pending (its commit lost) and the one the profile points at; each refresh token once.
 */
export async function heldTokenSets(ctx: BrokerContext, record: ProfileRecord): Promise<TokenSet[]> {
  if (record.tokenVersion === null) return [];
  const { vault } = ctx.deps;
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
export async function revoke(ctx: BrokerContext, record: ProfileRecord, tokens: TokenSet, clientSecret: string | undefined): Promise<void> {
  const { logger } = ctx.deps;
  try {
    const endpoint = tokens.revocationEndpoint !== undefined ? tokens.revocationEndpoint : await legacyRevocationEndpoint(ctx, record);
    if (!endpoint) {
      logger.info('token not revoked: no revocation endpoint', { profileId: record.id });
      return;
    }
    const as = revocationServer(record.config, endpoint);
    const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token' as const] : [tokens.accessToken, 'access_token' as const];
    await revokeToken(as, record.config, token, hint, { ...oauthOptions(ctx.deps), timeoutMs: REVOCATION_TIMEOUT_MS, clientSecret });
    logger.info('token revoked', { profileId: record.id, tokenTypeHint: hint });
  } catch (error) {
    const failure = classifyOAuthError(error);
    logger.warn('token revocation failed', { profileId: record.id, reason: failure.code, kind: failure.kind, httpStatus: failure.httpStatus });
  }
}

async function legacyRevocationEndpoint(ctx: BrokerContext, record: ProfileRecord): Promise<string | undefined> {
  const as = await resolveAuthorizationServer(record.config, {
    ...oauthOptions(ctx.deps),
    timeoutMs: REVOCATION_TIMEOUT_MS,
    cache: ctx.discovery,
    now: ctx.deps.clock(),
    needRevocation: true,
  });
  const { revocation_endpoint: revocation, token_endpoint: token } = as;
  return revocation && token && new URL(revocation).origin === new URL(token).origin ? revocation : undefined;
}
