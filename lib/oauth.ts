/**
 * Every OAuth message the broker sends or reads, on oauth4webapi. Nothing outside this module builds an
 * authorization request, talks to a token endpoint or decides what an OAuth failure means.
 */
import * as oauth from 'oauth4webapi';
import type { ClientAuthMethod, ProfileConfig } from './profile.js';
import { isLoopbackUrl } from './profile.js';
import type { TokenSet } from './ports.js';

export type Fetch = typeof fetch;

export interface OAuthOptions {
  /** Injected fetch (tests, local mode); defaults to the global one. */
  fetch?: Fetch;
  /** Per-request timeout. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Discovery documents change rarely; re-fetch them hourly per container. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;

/**
 * Placeholder issuer for profiles configured by endpoint URLs only. oauth4webapi needs an issuer string;
 * with this one no `iss` comparison can succeed by accident, and `iss` is only checked when it is known.
 */
const UNKNOWN_ISSUER = 'urn:oauth-broker:issuer-not-configured';

/** `http:` is accepted by profile validation for loopback hosts only, so only those may skip TLS. */
function requestOptions(url: string | undefined, options: OAuthOptions) {
  const insecure = url !== undefined && new URL(url).protocol === 'http:' && isLoopbackUrl(new URL(url));
  return {
    [oauth.allowInsecureRequests]: insecure,
    ...(options.fetch ? { [oauth.customFetch]: options.fetch } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  };
}

// ---------------------------------------------------------------------------------------------------
// Authorization server metadata
// ---------------------------------------------------------------------------------------------------

export class DiscoveryCache {
  readonly #entries = new Map<string, { as: oauth.AuthorizationServer; at: number }>();

  get(issuer: string, now: number): oauth.AuthorizationServer | undefined {
    const hit = this.#entries.get(issuer);
    return hit && now - hit.at < DISCOVERY_TTL_MS ? hit.as : undefined;
  }

  set(issuer: string, as: oauth.AuthorizationServer, now: number): void {
    this.#entries.set(issuer, { as, at: now });
  }
}

/**
 * Fetches the issuer's metadata: OpenID Connect Discovery 1.0 §4 first, then RFC 8414 §3.
 */
export async function discoverAuthorizationServer(issuer: string, options: OAuthOptions): Promise<oauth.AuthorizationServer> {
  const issuerUrl = new URL(issuer);
  let lastError: unknown;
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(issuerUrl, { ...requestOptions(issuer, options), algorithm });
      return await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * The authorization server a profile talks to: its explicit endpoints, completed by discovery when an
 * issuer is set (API.md: "endpoints missing above are discovered"). Explicit endpoints win.
 */
export async function resolveAuthorizationServer(
  config: ProfileConfig,
  options: OAuthOptions & { cache?: DiscoveryCache; now?: number },
): Promise<oauth.AuthorizationServer> {
  const explicit: Partial<oauth.AuthorizationServer> = {
    ...(config.authorizationUrl ? { authorization_endpoint: config.authorizationUrl } : {}),
    ...(config.tokenUrl ? { token_endpoint: config.tokenUrl } : {}),
    ...(config.revocationUrl ? { revocation_endpoint: config.revocationUrl } : {}),
  };
  if (!config.issuer) {
    return { issuer: UNKNOWN_ISSUER, ...explicit };
  }
  const needsDiscovery =
    !config.tokenUrl || (config.grantType === 'authorization_code' && !config.authorizationUrl) || !config.revocationUrl;
  let discovered: oauth.AuthorizationServer = { issuer: config.issuer };
  if (needsDiscovery) {
    const now = options.now ?? Date.now();
    const cached = options.cache?.get(config.issuer, now);
    try {
      discovered = cached ?? (await discoverAuthorizationServer(config.issuer, options));
      if (!cached) options.cache?.set(config.issuer, discovered, now);
    } catch (error) {
      // Revocation is optional: only fail when an endpoint we need is missing.
      if (!config.tokenUrl || (config.grantType === 'authorization_code' && !config.authorizationUrl)) throw error;
    }
  }
  return { ...discovered, ...explicit, issuer: config.issuer };
}

export function isIssuerKnown(as: oauth.AuthorizationServer): boolean {
  return as.issuer !== UNKNOWN_ISSUER;
}

function clientOf(config: ProfileConfig): oauth.Client {
  return { client_id: config.clientId, token_endpoint_auth_method: config.clientAuthMethod };
}

/** RFC 6749 §2.3.1 (basic, post) and "none" for public clients (RFC 7591 §2). */
export function clientAuthentication(method: ClientAuthMethod, clientSecret: string | undefined): oauth.ClientAuth {
  switch (method) {
    case 'client_secret_basic':
      return oauth.ClientSecretBasic(requireSecret(clientSecret));
    case 'client_secret_post':
      return oauth.ClientSecretPost(requireSecret(clientSecret));
    case 'none':
      return oauth.None();
  }
}

function requireSecret(secret: string | undefined): string {
  if (!secret) throw new OAuthFailure('invalid_client', 'error', 'No client secret is stored for this profile: set clientSecret with PUT /profiles/{id}.');
  return secret;
}

// ---------------------------------------------------------------------------------------------------
// Authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3)
// ---------------------------------------------------------------------------------------------------

export interface AuthorizationRequest {
  url: URL;
  state: string;
  codeVerifier: string | null;
}

/**
 * Builds the authorization URL with a fresh `state` (oauth4webapi: 32 random bytes, 256 bits) and, unless
 * `usePkce` is false, a fresh PKCE S256 verifier.
 */
export async function buildAuthorizationRequest(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  redirectUri: string,
): Promise<AuthorizationRequest> {
  if (!as.authorization_endpoint) {
    throw new OAuthFailure('invalid_configuration', 'error', 'The authorization server has no authorization endpoint: set authorizationUrl on the profile.');
  }
  const url = new URL(as.authorization_endpoint);
  const state = oauth.generateRandomState();
  const codeVerifier = config.usePkce ? oauth.generateRandomCodeVerifier() : null;
  if (config.scope) url.searchParams.set('scope', config.scope);
  for (const [key, value] of Object.entries(config.authorizationParams)) url.searchParams.set(key, value);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('state', state);
  if (codeVerifier) {
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return { url, state, codeVerifier };
}

// ---------------------------------------------------------------------------------------------------
// Authorization response (RFC 6749 §4.1.2, RFC 9207)
// ---------------------------------------------------------------------------------------------------

/** Why a callback was refused, in words for the person looking at the page. */
export class AuthorizationResponseProblem extends Error {
  constructor(
    readonly reason: 'access_denied' | 'server_error' | 'iss_mismatch' | 'state_mismatch' | 'missing_code' | 'invalid_response',
    message: string,
    /** The server's `error` code, when it sent one. */
    readonly oauthError?: string,
    readonly description?: string,
  ) {
    super(message);
    this.name = 'AuthorizationResponseProblem';
  }
}

/**
 * Validates the parameters the authorization server sent to the callback: `state`, `iss` (RFC 9207 §2.4,
 * only when the issuer is known), an `error` response (RFC 6749 §4.1.2.1) and the presence of `code`.
 */
export function validateAuthorizationResponse(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  parameters: URLSearchParams,
  expectedState: string,
): URLSearchParams {
  const params = new URLSearchParams(parameters);
  // Without a configured issuer there is nothing to compare `iss` with (RFC 9207 §2.4 applies to clients
  // that know the issuer); oauth4webapi would compare it with the placeholder.
  if (!isIssuerKnown(as)) params.delete('iss');
  let validated: URLSearchParams;
  try {
    validated = oauth.validateAuthResponse(as, clientOf(config), params, expectedState);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      const reason = error.error === 'access_denied' ? 'access_denied' : 'server_error';
      throw new AuthorizationResponseProblem(
        reason,
        error.error === 'access_denied'
          ? 'The authorization server reports that access was denied.'
          : `The authorization server answered with the error "${error.error}".`,
        error.error,
        error.error_description,
      );
    }
    if (error instanceof oauth.OperationProcessingError && /"iss"/.test(error.message)) {
      throw new AuthorizationResponseProblem(
        'iss_mismatch',
        'The response did not come from the expected authorization server (its "iss" parameter does not match the profile\'s issuer).',
      );
    }
    if (error instanceof oauth.OperationProcessingError && /"state"/.test(error.message)) {
      throw new AuthorizationResponseProblem('state_mismatch', 'The "state" parameter does not match a pending authorization.');
    }
    throw new AuthorizationResponseProblem('invalid_response', 'The authorization response is not valid.');
  }
  if (!validated.get('code')) {
    throw new AuthorizationResponseProblem('missing_code', 'The authorization server sent no authorization code.');
  }
  return validated;
}

// ---------------------------------------------------------------------------------------------------
// Token endpoint (RFC 6749 §4.1.3, §4.4, §6) and revocation (RFC 7009)
// ---------------------------------------------------------------------------------------------------

interface TokenRequestContext extends OAuthOptions {
  now: number;
  clientSecret: string | undefined;
}

/** Exchanges an authorization code (RFC 6749 §4.1.3) with the PKCE verifier (RFC 7636 §4.5). */
export async function exchangeAuthorizationCode(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  callbackParameters: URLSearchParams,
  redirectUri: string,
  codeVerifier: string | null,
  context: TokenRequestContext,
): Promise<TokenSet> {
  const secrets = [context.clientSecret, callbackParameters.get('code'), codeVerifier];
  return withClassifiedFailures(secrets, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      clientOf(config),
      clientAuthentication(config.clientAuthMethod, context.clientSecret),
      callbackParameters,
      redirectUri,
      codeVerifier ?? oauth.nopkce,
      { ...requestOptions(as.token_endpoint, context), additionalParameters: config.tokenParams },
    );
    const body = await oauth.processAuthorizationCodeResponse(as, clientOf(config), await withoutUnverifiableIdToken(as, response));
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: null });
  });
}

/** Refreshes (RFC 6749 §6). A response without `refresh_token` keeps the old one (§5.1: it is optional). */
export async function refreshAccessToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  refreshToken: string,
  context: TokenRequestContext,
): Promise<TokenSet> {
  return withClassifiedFailures([context.clientSecret, refreshToken], async () => {
    const response = await oauth.refreshTokenGrantRequest(
      as,
      clientOf(config),
      clientAuthentication(config.clientAuthMethod, context.clientSecret),
      refreshToken,
      { ...requestOptions(as.token_endpoint, context), additionalParameters: config.tokenParams },
    );
    const body = await oauth.processRefreshTokenResponse(as, clientOf(config), await withoutUnverifiableIdToken(as, response));
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: refreshToken });
  });
}

/** Client credentials grant (RFC 6749 §4.4). */
export async function requestClientCredentialsToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  context: TokenRequestContext,
): Promise<TokenSet> {
  return withClassifiedFailures([context.clientSecret], async () => {
    const parameters = new URLSearchParams(config.tokenParams);
    if (config.scope) parameters.set('scope', config.scope);
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      clientOf(config),
      clientAuthentication(config.clientAuthMethod, context.clientSecret),
      parameters,
      requestOptions(as.token_endpoint, context),
    );
    const body = await oauth.processClientCredentialsResponse(as, clientOf(config), response);
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: null });
  });
}

/** Token revocation (RFC 7009 §2.1), with a hint naming the token's type. */
export async function revokeToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  token: string,
  tokenTypeHint: 'refresh_token' | 'access_token',
  context: Omit<TokenRequestContext, 'now'>,
): Promise<void> {
  await withClassifiedFailures([context.clientSecret, token], async () => {
    if (!as.revocation_endpoint) throw new OAuthFailure('invalid_configuration', 'error', 'The profile has no revocation endpoint.');
    const response = await oauth.revocationRequest(as, clientOf(config), clientAuthentication(config.clientAuthMethod, context.clientSecret), token, {
      ...requestOptions(as.revocation_endpoint, context),
      additionalParameters: { token_type_hint: tokenTypeHint },
    });
    await oauth.processRevocationResponse(response);
  });
}

/**
 * The broker never uses ID Tokens. When the issuer is not configured one cannot be validated (its `iss`
 * is unknown), so it is dropped before oauth4webapi reads the response instead of failing the exchange.
 */
async function withoutUnverifiableIdToken(as: oauth.AuthorizationServer, response: Response): Promise<Response> {
  if (isIssuerKnown(as) || response.status !== 200) return response;
  const text = await response.text();
  let body = text;
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json) && 'id_token' in json) {
      delete (json as Record<string, unknown>).id_token;
      body = JSON.stringify(json);
    }
  } catch {
    // Not JSON: oauth4webapi reports it.
  }
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

// ---------------------------------------------------------------------------------------------------
// Token response normalisation (RFC 6749 §5.1)
// ---------------------------------------------------------------------------------------------------

/**
 * Turns a validated token response into the stored token set: `token_type` is case-insensitive (§5.1);
 * without `expires_in` the JWT access token's `exp` (RFC 9068 §2.2) is used when there is one, else the
 * profile's default lifetime. A missing `refresh_token` keeps the previous one (§6); an empty one is
 * refused.
 */
export function normalizeTokenResponse(
  body: oauth.TokenEndpointResponse,
  options: { now: number; defaultLifetimeSeconds: number; previousRefreshToken: string | null },
): TokenSet {
  if (body.access_token === '') {
    throw new OAuthFailure('invalid_response', 'passing', 'The token endpoint returned an empty access_token.');
  }
  const raw = body as Record<string, unknown>;
  if ('refresh_token' in raw && (raw.refresh_token === null || raw.refresh_token === '')) {
    throw new OAuthFailure('invalid_response', 'passing', 'The token endpoint returned an empty refresh_token.');
  }
  const expiresAtMs = expiryOf(body, options.now, options.defaultLifetimeSeconds);
  return {
    accessToken: body.access_token,
    tokenType: body.token_type.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer',
    expiresAt: new Date(expiresAtMs).toISOString(),
    refreshToken: body.refresh_token ?? options.previousRefreshToken,
    scope: body.scope ?? null,
    obtainedAt: new Date(options.now).toISOString(),
  };
}

/** Lifetimes beyond a year are taken as a year: the keep-alive refreshes long before, and dates stay valid. */
const MAX_LIFETIME_MS = 366 * 24 * 60 * 60 * 1000;

function expiryOf(body: oauth.TokenEndpointResponse, now: number, defaultLifetimeSeconds: number): number {
  let expiresAt = now + defaultLifetimeSeconds * 1000;
  if (typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) && body.expires_in >= 0) {
    expiresAt = now + body.expires_in * 1000;
  } else {
    const exp = jwtExpiry(body.access_token);
    if (exp !== undefined && Number.isFinite(exp)) expiresAt = exp * 1000;
  }
  return Math.min(expiresAt, now + MAX_LIFETIME_MS);
}

/** `exp` of a JWS compact serialization (RFC 7519 §4.1.4), unverified: only used as a lifetime hint. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    if (payload && typeof payload === 'object' && typeof (payload as { exp?: unknown }).exp === 'number') {
      return (payload as { exp: number }).exp;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// The one error classifier (DESIGN.md "Errors are classified once")
// ---------------------------------------------------------------------------------------------------

/**
 * What a failure means for the profile:
 * - `authorization_required`: the grant is gone (`invalid_grant`); a person must authorize again;
 * - `error`: the client itself was rejected (`invalid_client`, `unauthorized_client`) or is misconfigured;
 * - `passing`: network, 5xx, 429 or a malformed answer; back off and retry.
 */
export type FailureKind = 'authorization_required' | 'error' | 'passing';

export class OAuthFailure extends Error {
  constructor(
    /** The server's OAuth error code, or `network_error`, `server_error`, `invalid_response`, `invalid_configuration`. */
    readonly code: string,
    readonly kind: FailureKind,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'OAuthFailure';
  }
}

const MAX_DESCRIPTION = 200;

const CONFIGURATION_ERRORS = new Set<string>([
  oauth.MISSING_SERVER_METADATA,
  oauth.INVALID_SERVER_METADATA,
  oauth.HTTP_REQUEST_FORBIDDEN,
  oauth.REQUEST_PROTOCOL_FORBIDDEN,
]);

/**
 * Maps anything a token-endpoint call can throw to an `OAuthFailure`. `secrets` are the values that were
 * sent; they are cut out of any text the server echoed before it reaches a message.
 */
export function classifyOAuthError(error: unknown, secrets: ReadonlyArray<string | null | undefined> = []): OAuthFailure {
  if (error instanceof OAuthFailure) return error;
  const clean = (text: string | undefined) => (text ? redact(text, secrets).slice(0, MAX_DESCRIPTION) : undefined);

  if (error instanceof oauth.ResponseBodyError) {
    return fromOAuthErrorCode(error.error, clean(error.error_description), error.status, retryAfterOf(error.response));
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    const code = challenge?.parameters.error ?? 'invalid_client';
    return fromOAuthErrorCode(code, clean(challenge?.parameters.error_description), error.status, retryAfterOf(error.response));
  }
  if (error instanceof oauth.OperationProcessingError && CONFIGURATION_ERRORS.has(error.code ?? '')) {
    // Nothing was sent: the metadata or the endpoint URL is unusable. Retrying cannot help.
    return new OAuthFailure(
      'invalid_configuration',
      'error',
      'The authorization server\'s endpoints are missing or not usable (https: is required except on loopback): check the profile\'s URLs or issuer.',
    );
  }
  if (error instanceof oauth.OperationProcessingError) {
    const cause: unknown = error.cause;
    if (cause instanceof Response) {
      return fromHttpStatus(cause.status, retryAfterOf(cause));
    }
    // A 200 whose body is an OAuth error (seen in the wild): classify by its code.
    const body = (cause as { body?: { error?: unknown; error_description?: unknown } } | undefined)?.body;
    if (body && typeof body.error === 'string') {
      return fromOAuthErrorCode(body.error, clean(typeof body.error_description === 'string' ? body.error_description : undefined), 200);
    }
    if (error.code === oauth.RESPONSE_IS_NOT_JSON || error.code === oauth.PARSE_ERROR) {
      return new OAuthFailure('invalid_response', 'passing', 'The token endpoint did not answer with JSON.');
    }
    return new OAuthFailure('invalid_response', 'passing', `The token endpoint's answer is not a valid token response (${describeProcessingError(error)}).`);
  }
  if (error instanceof oauth.UnsupportedOperationError) {
    return new OAuthFailure('invalid_response', 'passing', 'The token endpoint returned a token type other than Bearer or DPoP.');
  }
  if (isTimeout(error)) {
    return new OAuthFailure('network_error', 'passing', 'The authorization server did not answer in time.');
  }
  if (error instanceof TypeError) {
    // fetch() failures: connection refused, DNS, TLS.
    return new OAuthFailure('network_error', 'passing', 'The authorization server could not be reached.');
  }
  return new OAuthFailure('server_error', 'passing', 'The request to the authorization server failed unexpectedly.');
}

function describeProcessingError(error: oauth.OperationProcessingError): string {
  // oauth4webapi's messages name properties, never values; keep only the quoted property name.
  const property = /"response" body "([a-z_]+)" property/.exec(error.message)?.[1];
  return property ? `"${property}" is missing or invalid` : 'unexpected content';
}

function fromOAuthErrorCode(code: string, description: string | undefined, status: number, retryAfterSeconds?: number): OAuthFailure {
  const detail = description ? `: ${description}` : '';
  if (status === 429 || status >= 500) {
    const failure = fromHttpStatus(status, retryAfterSeconds);
    return new OAuthFailure(code, 'passing', `${failure.message.replace(/\.$/, '')} (${code}${detail}).`, retryAfterSeconds, status);
  }
  if (code === 'temporarily_unavailable' || code === 'slow_down' || code === 'server_error') {
    return new OAuthFailure(code, 'passing', `The authorization server reported a temporary problem (${code}${detail}, HTTP ${status}).`, retryAfterSeconds, status);
  }
  switch (code) {
    case 'invalid_grant':
      return new OAuthFailure(code, 'authorization_required', `The authorization server no longer accepts the grant (invalid_grant${detail}): authorize the profile again.`, undefined, status);
    case 'invalid_client':
    case 'unauthorized_client':
      return new OAuthFailure(code, 'error', `The authorization server rejected the client (${code}${detail}): check clientId, clientSecret and clientAuthMethod.`, undefined, status);
    default:
      return new OAuthFailure(code, 'error', `The authorization server refused the request (${code}${detail}).`, undefined, status);
  }
}

function fromHttpStatus(status: number, retryAfterSeconds: number | undefined): OAuthFailure {
  if (status === 429) {
    return new OAuthFailure('server_error', 'passing', 'The authorization server is rate limiting requests (HTTP 429).', retryAfterSeconds, status);
  }
  if (status >= 500) {
    return new OAuthFailure('server_error', 'passing', `The authorization server failed (HTTP ${status}).`, retryAfterSeconds, status);
  }
  return new OAuthFailure('invalid_response', 'passing', `The token endpoint answered HTTP ${status} without an OAuth error.`, retryAfterSeconds, status);
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function retryAfterOf(response: Response | undefined, now: number = Date.now()): number | undefined {
  const value = response?.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

export function redact(text: string, secrets: ReadonlyArray<string | null | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}

async function withClassifiedFailures<T>(secrets: ReadonlyArray<string | null | undefined>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw classifyOAuthError(error, secrets);
  }
}
