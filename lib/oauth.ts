/**
 * Every OAuth message the broker sends or reads, on oauth4webapi. Nothing outside this module builds an
 * authorization request, talks to a token endpoint or decides what an OAuth failure means.
 */
import * as oauth from 'oauth4webapi';
import type { ClientAuthMethod, ProfileConfig } from './profile.js';
import type { TokenSet } from './ports.js';
import { parseRetryAfter } from './shared.js';
import { endpointUrlProblem, isLoopbackHost, type UrlPolicy } from './endpoint-policy.js';

export type Fetch = typeof fetch;

export interface OAuthOptions {
  /** Injected fetch (tests, local mode); defaults to the global one. */
  fetch?: Fetch;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Which endpoint URLs may be asked (lib/endpoint-policy.ts); default `cloud`, the strict one. */
  urlPolicy?: UrlPolicy;
  /** Builds the `ClientAuth` of `private_key_jwt` profiles (`lib/keys`); without it such profiles cannot authenticate. */
  clientAssertion?: (config: ProfileConfig) => oauth.ClientAuth;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Discovery documents change rarely; re-fetch them hourly per container. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** A failed discovery is remembered this long, so that an issuer that is down or wrong is not asked on every call. */
const DISCOVERY_FAILURE_TTL_MS = 5 * 60 * 1000;

/**
 * Placeholder issuer for profiles configured by endpoint URLs only. oauth4webapi needs an issuer string;
 * with this one no `iss` comparison can succeed by accident, and `iss` is only checked when it is known.
 */
const UNKNOWN_ISSUER = 'urn:oauth-broker:issuer-not-configured';

/**
 * The options of every request to an authorization server. The endpoint goes through the URL policy first
 * (an endpoint stored before the policy, or learned by discovery, gets no exception); only loopback
 * `http:` in local mode skips TLS. Every answer is read through `boundedFetch`, and the timeout covers
 * the body too, so an answer that never ends is cut off.
 */
function requestOptions(url: string | undefined, options: OAuthOptions) {
  const policy = options.urlPolicy ?? 'cloud';
  if (url !== undefined) assertEndpointAllowed(url, policy, 'The endpoint');
  const insecure = url !== undefined && policy === 'local' && new URL(url).protocol === 'http:' && isLoopbackHost(new URL(url));
  return {
    [oauth.allowInsecureRequests]: insecure,
    [oauth.customFetch]: boundedFetch(options.fetch),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  };
}

/** Refuses (as an `invalid_configuration` error: nothing is sent) an endpoint that `policy` does not accept. */
export function assertEndpointAllowed(url: string, policy: UrlPolicy, what: string): void {
  const problem = endpointUrlProblem(url, policy);
  if (problem) {
    throw new OAuthFailure('invalid_configuration', 'error', `${what} ${problem}: check the profile's URLs or issuer.`);
  }
}

/**
 * docs/api.md: a token, discovery or revocation response larger than 64 KiB is refused. That is a
 * Secrets Manager value's limit, and far more than any real answer; a hostile server could otherwise make
 * the function buffer until it runs out of memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** An answer that went over {@link MAX_RESPONSE_BYTES}; reading stopped there and the connection was dropped. */
export class ResponseTooLargeError extends Error {
  constructor() {
    super(`The authorization server's answer is larger than ${MAX_RESPONSE_BYTES / 1024} KiB.`);
    this.name = 'ResponseTooLargeError';
  }
}

/** Statuses whose responses have no body (a `Response` cannot be made with one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * A fetch whose answers are counted while they stream: a declared `Content-Length` over the limit is
 * refused before reading, and a body that goes over it errors with {@link ResponseTooLargeError} and is
 * cancelled, so nothing ever buffers more than the limit (plus one chunk).
 */
export function boundedFetch(inner: Fetch | undefined, maxBytes: number = MAX_RESPONSE_BYTES): Fetch {
  return async (input, init) => {
    const response = await (inner ?? globalThis.fetch)(input, init);
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new ResponseTooLargeError();
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
    const reader = response.body.getReader();
    let received = 0;
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        received += value.byteLength;
        if (received > maxBytes) {
          await reader.cancel().catch(() => undefined);
          controller.error(new ResponseTooLargeError());
          return;
        }
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

// ---------------------------------------------------------------------------------------------------
// Authorization server metadata
// ---------------------------------------------------------------------------------------------------

/** Per-container cache of discovered metadata (an hour) and of discovery failures (five minutes). */
export class DiscoveryCache {
  readonly #entries = new Map<string, { as: oauth.AuthorizationServer; at: number } | { failure: unknown; at: number }>();

  get(issuer: string, now: number): oauth.AuthorizationServer | undefined {
    const hit = this.#entries.get(issuer);
    return hit && 'as' in hit && now - hit.at < DISCOVERY_TTL_MS ? hit.as : undefined;
  }

  set(issuer: string, as: oauth.AuthorizationServer, now: number): void {
    this.#entries.set(issuer, { as, at: now });
  }

  /** The failure of a recent discovery of `issuer`, to be thrown again instead of asking the issuer again. */
  getFailure(issuer: string, now: number): unknown {
    const hit = this.#entries.get(issuer);
    return hit && 'failure' in hit && now - hit.at < DISCOVERY_FAILURE_TTL_MS ? hit.failure : undefined;
  }

  setFailure(issuer: string, failure: unknown, now: number): void {
    this.#entries.set(issuer, { failure, at: now });
  }
}

/**
 * Fetches the issuer's metadata: OpenID Connect Discovery 1.0 §4 first, then RFC 8414 §3. A failure is an
 * `OAuthFailure`: passing when the issuer could not be reached or failed (network, 5xx, 429), else an
 * `invalid_configuration` error (no metadata document there, or not this issuer's).
 */
export async function discoverAuthorizationServer(issuer: string, options: OAuthOptions): Promise<oauth.AuthorizationServer> {
  const issuerUrl = new URL(issuer);
  const failures: OAuthFailure[] = [];
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(issuerUrl, { ...requestOptions(issuer, options), algorithm });
      return await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (error) {
      failures.push(classifyOAuthError(error));
    }
  }
  throw discoveryFailure(failures);
}

function discoveryFailure(failures: OAuthFailure[]): OAuthFailure {
  const transient = failures.find((failure) => failure.kind === 'passing' && (failure.code === 'network_error' || failure.code === 'server_error'));
  if (transient) {
    return new OAuthFailure(
      transient.code,
      'passing',
      `The issuer's metadata could not be read: ${transient.message.replace(/^The authorization server /, 'the authorization server ')}`,
      transient.retryAfterSeconds,
      transient.httpStatus,
    );
  }
  const configuration = failures.find((failure) => failure.code === 'invalid_configuration');
  if (configuration) return configuration;
  const status = failures.map((failure) => failure.httpStatus).find((httpStatus) => httpStatus !== undefined && httpStatus >= 300);
  return new OAuthFailure(
    'invalid_configuration',
    'error',
    `The issuer publishes no usable metadata (${status === undefined ? 'no valid discovery document' : `HTTP ${status}`}): check the profile's issuer, or set its endpoint URLs explicitly.`,
    undefined,
    status,
  );
}

/** Discovery through the cache: a recent success is reused, a recent failure is thrown again. */
async function discoverCached(issuer: string, options: OAuthOptions & { cache?: DiscoveryCache; now?: number }): Promise<oauth.AuthorizationServer> {
  const { cache } = options;
  const now = options.now ?? Date.now();
  const cached = cache?.get(issuer, now);
  if (cached) return cached;
  const failure = cache?.getFailure(issuer, now);
  if (failure !== undefined) throw failure;
  try {
    const discovered = await discoverAuthorizationServer(issuer, options);
    cache?.set(issuer, discovered, now);
    return discovered;
  } catch (error) {
    cache?.setFailure(issuer, error, now);
    throw error;
  }
}

export interface ResolveOptions extends OAuthOptions {
  cache?: DiscoveryCache;
  now?: number;
  /** Also discover the revocation endpoint when the profile has none (DELETE). Default false. */
  needRevocation?: boolean;
}

/**
 * The authorization server a profile talks to: its explicit endpoints, completed by discovery when an
 * issuer is set (API.md: "endpoints missing above are discovered"). Explicit endpoints win. Discovery only
 * runs when an endpoint the caller needs is missing: the token endpoint, the authorization endpoint of an
 * authorization_code profile, and the revocation endpoint when `needRevocation` is set (a failure to
 * discover that one alone is not an error: revocation is best effort).
 */
export async function resolveAuthorizationServer(config: ProfileConfig, options: ResolveOptions): Promise<oauth.AuthorizationServer> {
  const explicit: Partial<oauth.AuthorizationServer> = {
    ...(config.authorizationUrl ? { authorization_endpoint: config.authorizationUrl } : {}),
    ...(config.tokenUrl ? { token_endpoint: config.tokenUrl } : {}),
    ...(config.revocationUrl ? { revocation_endpoint: config.revocationUrl } : {}),
  };
  if (!config.issuer) {
    return { issuer: UNKNOWN_ISSUER, ...explicit };
  }
  const required = !config.tokenUrl || (config.grantType === 'authorization_code' && !config.authorizationUrl);
  const wanted = options.needRevocation === true && !config.revocationUrl;
  let discovered: oauth.AuthorizationServer = { issuer: config.issuer };
  if (required || wanted) {
    try {
      discovered = acceptedEndpoints(await discoverCached(config.issuer, options), options.urlPolicy ?? 'cloud');
    } catch (error) {
      if (required) throw error;
    }
  }
  return { ...discovered, ...explicit, issuer: config.issuer };
}

/** The endpoints of a discovery document the broker would use, with the profile's own names. */
const DISCOVERED_ENDPOINTS = [
  ['authorization_endpoint', 'authorizationUrl'],
  ['token_endpoint', 'tokenUrl'],
  ['revocation_endpoint', 'revocationUrl'],
] as const;

/**
 * docs/api.md: endpoints learned by discovery obey the same URL rules as given ones. A discovery document
 * naming an endpoint the policy refuses (a `file:` authorization endpoint, an `http:` or private token
 * endpoint in the cloud) is not this broker's server: the whole document is refused, naming the field.
 */
function acceptedEndpoints(as: oauth.AuthorizationServer, policy: UrlPolicy): oauth.AuthorizationServer {
  for (const [field, profileField] of DISCOVERED_ENDPOINTS) {
    const value = as[field];
    if (value === undefined) continue;
    const problem = typeof value === 'string' ? endpointUrlProblem(value, policy) : 'is not a URL';
    if (problem) {
      throw new OAuthFailure(
        'invalid_configuration',
        'error',
        `The issuer's discovery document names a ${field} that the broker does not accept (it ${problem}): fix the issuer's metadata, or set ${profileField} on the profile.`,
      );
    }
  }
  return as;
}

export function isIssuerKnown(as: oauth.AuthorizationServer): boolean {
  return as.issuer !== UNKNOWN_ISSUER;
}

function clientOf(config: ProfileConfig): oauth.Client {
  return { client_id: config.clientId, token_endpoint_auth_method: config.clientAuthMethod };
}

/**
 * RFC 6749 §2.3.1 (basic, post), "none" for public clients (RFC 7591 §2) and `private_key_jwt` (RFC 7523
 * §2.2) through `assertion`.
 */
export function clientAuthentication(
  method: ClientAuthMethod,
  clientSecret: string | undefined,
  assertion?: () => oauth.ClientAuth,
): oauth.ClientAuth {
  switch (method) {
    case 'private_key_jwt':
      if (!assertion) throw new OAuthFailure('invalid_configuration', 'error', 'This broker has no signing keys configured, so it cannot use private_key_jwt: see docs/keys.md.');
      return assertion();
    case 'client_secret_basic':
      return oauth.ClientSecretBasic(requireSecret(clientSecret));
    case 'client_secret_post':
      return oauth.ClientSecretPost(requireSecret(clientSecret));
    case 'none':
      return oauth.None();
  }
}

/** The profile's client authentication for one request. */
function clientAuthOf(config: ProfileConfig, context: OAuthOptions & { clientSecret: string | undefined }): oauth.ClientAuth {
  const { clientAssertion } = context;
  return clientAuthentication(config.clientAuthMethod, context.clientSecret, clientAssertion && (() => clientAssertion(config)));
}

/**
 * A profile that needs a client secret and has none stored (possibly a PUT still writing it): a passing
 * failure, retried with backoff, not the server's verdict on the client.
 */
function requireSecret(secret: string | undefined): string {
  if (!secret) throw new OAuthFailure('client_secret_missing', 'passing', 'No client secret is stored for this profile yet: set clientSecret with PUT /profiles/{id}.');
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
  options: Pick<OAuthOptions, 'urlPolicy'> = {},
): Promise<AuthorizationRequest> {
  if (!as.authorization_endpoint) {
    throw new OAuthFailure('invalid_configuration', 'error', 'The authorization server has no authorization endpoint: set authorizationUrl on the profile.');
  }
  // The URL is handed to a person's browser (and the CLI's opener): never one the policy refuses.
  assertEndpointAllowed(as.authorization_endpoint, options.urlPolicy ?? 'cloud', 'The authorization endpoint');
  const url = new URL(as.authorization_endpoint);
  const state = oauth.generateRandomState();
  // A public client always uses PKCE (a profile stored before that rule may say otherwise).
  const codeVerifier = config.usePkce || config.clientAuthMethod === 'none' ? oauth.generateRandomCodeVerifier() : null;
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
      // The code comes from the browser's URL: only one of OAuth's syntax is repeated.
      const code = isOAuthErrorCode(error.error) ? error.error : undefined;
      throw new AuthorizationResponseProblem(
        code === 'access_denied' ? 'access_denied' : 'server_error',
        code === 'access_denied'
          ? 'The authorization server reports that access was denied.'
          : code
            ? `The authorization server answered with the error "${code}".`
            : 'The authorization server answered with an error.',
        code,
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
  const secrets = sentSecrets(config, context.clientSecret, callbackParameters.get('code'), codeVerifier);
  return withClassifiedFailures(secrets, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      clientOf(config),
      clientAuthOf(config, context),
      callbackParameters,
      redirectUri,
      codeVerifier ?? oauth.nopkce,
      { ...requestOptions(as.token_endpoint, context), additionalParameters: config.tokenParams },
    );
    const body = await oauth.processAuthorizationCodeResponse(withIdTokenAlgorithms(as), clientOf(config), await withoutUnverifiableIdToken(as, response));
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: null, revocationEndpoint: as.revocation_endpoint ?? null });
  });
}

/** Refreshes (RFC 6749 §6). A response without `refresh_token` keeps the old one (§5.1: it is optional). */
export async function refreshAccessToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  refreshToken: string,
  context: TokenRequestContext,
): Promise<TokenSet> {
  return withClassifiedFailures(sentSecrets(config, context.clientSecret, refreshToken), async () => {
    const response = await oauth.refreshTokenGrantRequest(
      as,
      clientOf(config),
      clientAuthOf(config, context),
      refreshToken,
      { ...requestOptions(as.token_endpoint, context), additionalParameters: config.tokenParams },
    );
    const body = await oauth.processRefreshTokenResponse(withIdTokenAlgorithms(as), clientOf(config), await withoutUnverifiableIdToken(as, response));
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: refreshToken, revocationEndpoint: as.revocation_endpoint ?? null });
  });
}

/** Client credentials grant (RFC 6749 §4.4). */
export async function requestClientCredentialsToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  context: TokenRequestContext,
): Promise<TokenSet> {
  return withClassifiedFailures(sentSecrets(config, context.clientSecret), async () => {
    const parameters = new URLSearchParams(config.tokenParams);
    if (config.scope) parameters.set('scope', config.scope);
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      clientOf(config),
      clientAuthOf(config, context),
      parameters,
      requestOptions(as.token_endpoint, context),
    );
    const body = await oauth.processClientCredentialsResponse(as, clientOf(config), response);
    return normalizeTokenResponse(body, { now: context.now, defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds, previousRefreshToken: null, revocationEndpoint: as.revocation_endpoint ?? null });
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
  await withClassifiedFailures(sentSecrets(config, context.clientSecret, token), async () => {
    if (!as.revocation_endpoint) throw new OAuthFailure('invalid_configuration', 'error', 'The profile has no revocation endpoint.');
    const response = await oauth.revocationRequest(as, clientOf(config), clientAuthOf(config, context), token, {
      ...requestOptions(as.revocation_endpoint, context),
      additionalParameters: { token_type_hint: tokenTypeHint },
    });
    await oauth.processRevocationResponse(response);
  });
}

/**
 * The server to revoke a token set at: the revocation endpoint recorded with the set when it was
 * obtained, whatever the profile names now (docs/api.md: tokens are revoked only at the revocation endpoint
 * of the server that issued them). No discovery: nothing the profile says now decides where tokens go.
 */
export function revocationServer(config: ProfileConfig, revocationEndpoint: string): oauth.AuthorizationServer {
  return {
    issuer: config.issuer ?? UNKNOWN_ISSUER,
    ...(config.tokenUrl ? { token_endpoint: config.tokenUrl } : {}),
    revocation_endpoint: revocationEndpoint,
  };
}

/**
 * Every form in which a request may have carried a secret, for `redact`: the values themselves (`redact`
 * adds their URL encodings) and, for the client secret, the `client_secret_basic` credentials.
 */
function sentSecrets(config: ProfileConfig, clientSecret: string | undefined, ...others: Array<string | null | undefined>): string[] {
  const secrets = [clientSecret, ...others].filter((value): value is string => typeof value === 'string' && value !== '');
  if (clientSecret) secrets.push(...basicAuthCredentials(config.clientId, clientSecret));
  return secrets;
}

/**
 * JWS algorithms an issuer may sign ID Tokens with when its metadata was not discovered (explicit
 * endpoints). oauth4webapi would otherwise expect RS256 only; the broker never uses ID Tokens and does not
 * verify their signatures (OIDC Core §3.1.3.7: TLS authenticates the token endpoint), so any asymmetric
 * algorithm is accepted, as discovery would usually have said; `none` and HMAC are not.
 */
const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

function withIdTokenAlgorithms(as: oauth.AuthorizationServer): oauth.AuthorizationServer {
  return as.id_token_signing_alg_values_supported ? as : { ...as, id_token_signing_alg_values_supported: ID_TOKEN_ALGORITHMS };
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
  options: {
    now: number;
    defaultLifetimeSeconds: number;
    previousRefreshToken: string | null;
    /** The issuing server's revocation endpoint, recorded with the set (`TokenSet.revocationEndpoint`). */
    revocationEndpoint?: string | null;
  },
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
    ...(options.revocationEndpoint !== undefined ? { revocationEndpoint: options.revocationEndpoint } : {}),
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
 * - `error`: the client itself was rejected (`invalid_client`, `unauthorized_client`), the request was
 *   refused (another OAuth error, or a 3xx/4xx without one: a wrong URL, a WAF) or the profile is
 *   misconfigured; retrying cannot help;
 * - `passing`: network, 5xx, 408, 429 or a malformed 200 answer; back off and retry.
 */
export type FailureKind = 'authorization_required' | 'error' | 'passing';

export class OAuthFailure extends Error {
  constructor(
    /**
     * The server's OAuth error code (only ever one of RFC 6749 §5.2's syntax, see `isOAuthErrorCode`), or
     * `network_error`, `server_error`, `invalid_response`, `invalid_configuration`.
     */
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
 * Whether `code` may be taken as an OAuth error code. RFC 6749 §5.2 allows %x20-21 / %x23-5B / %x5D-7E;
 * the code also goes into `lastError.code`, messages, events and a metric dimension, so it must moreover
 * be 1 to 64 letters, digits, `_`, `.` or `-`. Anything else is not trusted as an error code.
 */
export function isOAuthErrorCode(code: unknown): code is string {
  return typeof code === 'string' && /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(code) && /^[a-z0-9_.-]{1,64}$/i.test(code);
}

/**
 * Maps anything a token-endpoint call can throw to an `OAuthFailure`. `secrets` are the values that were
 * sent; they (and their URL encodings) are cut out of any text the server echoed before it reaches a message.
 */
export function classifyOAuthError(error: unknown, secrets: ReadonlyArray<string | null | undefined> = []): OAuthFailure {
  if (error instanceof OAuthFailure) return error;
  if (causes(error).some((cause) => cause instanceof ResponseTooLargeError)) {
    return new OAuthFailure('invalid_response', 'passing', `The authorization server's answer is larger than ${MAX_RESPONSE_BYTES / 1024} KiB; it was refused.`);
  }
  if (causes(error).some(isTimeout)) {
    return new OAuthFailure('network_error', 'passing', 'The authorization server did not answer in time.');
  }
  const clean = (text: string | undefined) => (text ? redact(text, secrets).replace(/\p{Cc}/gu, ' ').slice(0, MAX_DESCRIPTION) : undefined);

  if (error instanceof oauth.ResponseBodyError) {
    const retryAfter = retryAfterOf(error.response);
    if (!isOAuthErrorCode(error.error)) return fromHttpStatus(error.status, retryAfter, 'an error code that is not an OAuth error code');
    return fromOAuthErrorCode(error.error, clean(error.error_description), error.status, retryAfter);
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    const claimed = challenge?.parameters.error;
    const code = isOAuthErrorCode(claimed) ? claimed : 'invalid_client';
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
    const notJson = error.code === oauth.RESPONSE_IS_NOT_JSON || error.code === oauth.PARSE_ERROR;
    if (notJson && !(cause instanceof Response && cause.status >= 300)) {
      // An HTML sign-in page, a proxy's banner: nothing of it is repeated, whatever it says.
      return new OAuthFailure('invalid_response', 'passing', 'The token endpoint did not answer with JSON.');
    }
    if (cause instanceof Response) {
      return fromHttpStatus(cause.status, retryAfterOf(cause));
    }
    // A 200 whose body is an OAuth error (seen in the wild): classify by its code.
    const body = (cause as { body?: { error?: unknown; error_description?: unknown } } | undefined)?.body;
    if (body && typeof body.error === 'string') {
      if (!isOAuthErrorCode(body.error)) {
        return new OAuthFailure('invalid_response', 'passing', 'The token endpoint answered HTTP 200 with an "error" that is not an OAuth error code.');
      }
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

/** `code` has passed `isOAuthErrorCode`. */
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

/**
 * An answer that carries no (usable) OAuth error. DESIGN.md: only network, 5xx and 429 are passing (and
 * 408, the server's own timeout); any other 3xx or 4xx means the request went to the wrong place or was
 * refused before the authorization server saw it (a wrong tokenUrl, a WAF, a proxy): retrying cannot help.
 * A 2xx that is not a token response stays a passing `invalid_response`.
 */
function fromHttpStatus(status: number, retryAfterSeconds: number | undefined, what = 'no OAuth error'): OAuthFailure {
  if (status === 429) {
    return new OAuthFailure('server_error', 'passing', 'The authorization server is rate limiting requests (HTTP 429).', retryAfterSeconds, status);
  }
  if (status >= 500) {
    return new OAuthFailure('server_error', 'passing', `The authorization server failed (HTTP ${status}).`, retryAfterSeconds, status);
  }
  if (status === 408) {
    return new OAuthFailure('server_error', 'passing', 'The authorization server timed out waiting for the request (HTTP 408).', retryAfterSeconds, status);
  }
  if (status >= 300) {
    return new OAuthFailure(
      'invalid_response',
      'error',
      `The token endpoint answered HTTP ${status} with ${what}: check the profile's tokenUrl (or issuer) and clientAuthMethod.`,
      undefined,
      status,
    );
  }
  return new OAuthFailure('invalid_response', 'passing', `The token endpoint answered HTTP ${status} with ${what}.`, retryAfterSeconds, status);
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date, from a response's `Retry-After`. */
export function retryAfterOf(response: Response | undefined, now: number = Date.now()): number | undefined {
  return parseRetryAfter(response?.headers.get('retry-after'), now);
}

/** `error` and its causes, outermost first (a few levels: oauth4webapi wraps what fetch threw). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 5; current = (current as { cause?: unknown } | null)?.cause) {
    chain.push(current);
    if (current === null || typeof current !== 'object') break;
  }
  return chain;
}

function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** `client_secret_basic` credentials as sent (RFC 6749 §2.3.1: form-encoded, then base64), and unencoded. */
export function basicAuthCredentials(clientId: string, clientSecret: string): string[] {
  const encoded = Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`).toString('base64');
  const plain = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
  return encoded === plain ? [encoded] : [encoded, plain];
}

/** application/x-www-form-urlencoded as oauth4webapi writes Basic credentials (RFC 6749 Appendix B). */
function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[-_.!~*'()]|%20/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

/**
 * `text` without any of `secrets`: each value as it is, percent-encoded (`encodeURIComponent`, either
 * case of hex digits) and form-encoded (spaces as `+`, as in a request body). Values shorter than 4
 * characters are left alone (they would cut ordinary words).
 */
export function redact(text: string, secrets: ReadonlyArray<string | null | undefined>): string {
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    variants.add(secret);
    variants.add(encodeURIComponent(secret));
    variants.add(new URLSearchParams({ v: secret }).toString().slice(2));
    variants.add(formUrlEncode(secret));
  }
  if (variants.size === 0) return text;
  const patterns = [...variants]
    .sort((a, b) => b.length - a.length)
    .map((variant) => variant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%([0-9A-F])([0-9A-F])/g, (_, a: string, b: string) => `%${hexDigit(a)}${hexDigit(b)}`));
  return text.replace(new RegExp(patterns.join('|'), 'g'), '[redacted]');
}

function hexDigit(digit: string): string {
  return /[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit;
}

async function withClassifiedFailures<T>(secrets: ReadonlyArray<string | null | undefined>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw classifyOAuthError(error, secrets);
  }
}
