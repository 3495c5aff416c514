/**
 * What the broker's use cases share: the dependencies the composition root gave, the caches of one
 * container (discovery, client secrets, tokens), the refresher, metrics and status events; and the small
 * helpers every use case calls (the profile read, the authorization server, the OAuth options).
 */
import type * as oauth from 'oauth4webapi';
import type { ClientSecrets } from '../client-secrets.js';
import { BrokerError, authorizationRequired, conflict, invalidRequest, notFound, temporarilyUnavailable } from '../errors.js';
import type { StatusEvents } from '../events.js';
import type { RefreshPolicy } from '../lifecycle/timing.js';
import { errorFields, type Log } from '../logger.js';
import type { BrokerMetrics } from '../metrics.js';
import { DiscoveryCache, OAuthFailure, resolveAuthorizationServer, type Fetch } from '../oauth.js';
import type { Clock, ProfileStore, SecretVault } from '../ports.js';
import type { ProfileConfig, ProfileRecord } from '../profile.js';
import type { Refresher } from '../refresh.js';
import type { TokenCache } from '../token-cache.js';
import type { UrlPolicy } from '../endpoint-policy.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { toView, type ProfileView } from '../profile.js';

export interface BrokerDependencies {
  store: ProfileStore;
  vault: SecretVault;
  clock: Clock;
  logger: Log;
  /** The public `GET /callback` URL registered at the authorization servers. */
  callbackUrl: string;
  fetch?: Fetch;
  /** Timeout of each request to an authorization server. */
  oauthTimeoutMs?: number;
  /**
   * Which endpoint URLs are accepted and asked (lib/endpoint-policy.ts), set by the composition root:
   * `cloud` (the default, for the Lambda functions) or `local` (`npm start`: loopback `http:` too).
   */
  urlPolicy?: UrlPolicy;
  refresh?: Partial<RefreshPolicy>;
  metrics?: BrokerMetrics;
  /** Where status changes are signalled (EventBridge in the cloud); logged when absent. */
  events?: StatusEvents;
  /** Injected so that tests never wait on real time (lease waits, vault retries, the job's write budget). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Refresh lease duration and how long a token request waits for another instance's refresh. */
  leaseMs?: number;
  maxWaitMs?: number;
  /** The signing keys of `private_key_jwt` profiles (docs/keys.md); without them such profiles are refused. */
  signingKeys?: SigningKeys;
}

export interface BrokerContext {
  deps: BrokerDependencies;
  policy: RefreshPolicy;
  discovery: DiscoveryCache;
  /** Per-instance token cache: a warm token request makes no AWS call (docs/design.md "Scale and cost"). */
  tokens: TokenCache;
  refresher: Refresher;
  /** Client secrets for refreshes, cached per container and bound to the grant they were read for. */
  secrets: ClientSecrets;
  metrics: BrokerMetrics;
  events: StatusEvents;
}

/** A profile being deleted is gone for every route but DELETE itself (which must be able to finish it). */
export async function requireProfile(ctx: BrokerContext, profileId: string, options: { deleting?: 'include' } = {}): Promise<ProfileRecord> {
  const record = await ctx.deps.store.getProfile(profileId);
  if (!record || (record.deleting && options.deleting !== 'include')) throw notFound(`Profile "${profileId}" does not exist.`);
  return record;
}

export function noGrant(ctx: BrokerContext, record: ProfileRecord): BrokerError {
  return authorizationRequired(
    `Profile "${record.id}" holds no grant: open its authorization URL (GET /profiles/${record.id}/authorize-url) in a browser and consent.`,
    'no_grant',
  );
}

/** The client secret as the vault holds it now (a fresh read), kept for this container's refreshes of the same grant. */
export async function readClientSecret(ctx: BrokerContext, record: ProfileRecord): Promise<string | undefined> {
  return ctx.secrets.reread(record);
}

export async function authorizationServer(ctx: BrokerContext, config: ProfileConfig, options: { needRevocation?: boolean } = {}): Promise<oauth.AuthorizationServer> {
  try {
    return await resolveAuthorizationServer(config, { ...oauthOptions(ctx.deps), ...options, cache: ctx.discovery, now: ctx.deps.clock() });
  } catch (error) {
    ctx.deps.logger.warn('authorization server discovery failed', { issuer: config.issuer, ...errorFields(error) });
    // No usable metadata there (none, another issuer's, or naming an endpoint the URL policy refuses) is
    // the profile's problem, and retrying will not help; an issuer that is down is passing.
    if (error instanceof OAuthFailure && error.kind === 'error') throw conflict(error.message, error.code);
    throw temporarilyUnavailable(
      `The issuer's metadata could not be read from ${config.issuer ?? 'the issuer'}; check the issuer URL or retry shortly.`,
      30,
      'discovery_failed',
    );
  }
}

export function configurationError(ctx: BrokerContext, error: unknown): BrokerError {
  if (error instanceof OAuthFailure) return conflict(error.message, error.code);
  throw error;
}

/** What every OAuth request of this broker carries: the URL policy, its fetch, timeout and client assertions. */
export function oauthOptions(deps: BrokerDependencies) {
  return {
    urlPolicy: deps.urlPolicy ?? 'cloud',
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.oauthTimeoutMs ? { timeoutMs: deps.oauthTimeoutMs } : {}),
    ...(deps.signingKeys ? { clientAssertion: deps.signingKeys.clientAuth } : {}),
  };
}

/** The profile view, with the signing key of a private_key_jwt profile (docs/keys.md). */
export async function profileView(ctx: BrokerContext, record: ProfileRecord): Promise<ProfileView> {
  const view = toView(record, ctx.deps.callbackUrl);
  const signingKey = await ctx.deps.signingKeys?.describe(record.config);
  return signingKey === undefined && record.config.clientAuthMethod !== 'private_key_jwt' ? view : { ...view, signingKey: signingKey ?? null };
}

/** The signing keys, for a private_key_jwt profile; 400 when this broker has none. */
export function requireSigningKeys(ctx: BrokerContext, config: ProfileConfig): SigningKeys {
  if (ctx.deps.signingKeys) return ctx.deps.signingKeys;
  throw invalidRequest(`This broker has no signing keys configured, so it cannot use ${config.clientAuthMethod}: see docs/keys.md.`, 'no_signing_keys');
}

export function nowIso(ctx: BrokerContext): string {
  return new Date(ctx.deps.clock()).toISOString();
}
