/**
 * The token endpoint (RFC 6749 §4.1.3, §4.4, §6) and revocation (RFC 7009): every grant the broker makes,
 * and the normalisation of a token response into the stored token set.
 */
import * as oauth from 'oauth4webapi';
import type { TokenSet } from '../ports.js';
import type { ProfileConfig } from '../profile.js';
import { basicAuthCredentials, clientAuthOf, clientOf } from './client-auth.js';
import { UNKNOWN_ISSUER, isIssuerKnown, isRevocationEndpointUnknown } from './discovery.js';
import { OAuthFailure, classifyOAuthError } from './failures.js';
import { requestOptions, type OAuthOptions } from './requests.js';

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
  return tokenGrant(as, config, context, {
    sent: sentSecrets(config, context.clientSecret, callbackParameters.get('code'), codeVerifier),
    previousRefreshToken: null,
    request: ({ client, auth, options }) =>
      oauth.authorizationCodeGrantRequest(as, client, auth, callbackParameters, redirectUri, codeVerifier ?? oauth.nopkce, options),
    validate: oauth.processAuthorizationCodeResponse,
  });
}

/**
 * Refreshes (RFC 6749 §6). A response without `refresh_token` keeps the old one (§5.1: it is optional).
 * `previousRevocationEndpoint`: the one recorded with the set refreshed, kept when the issuer's cannot be
 * discovered now (the same server issued both sets).
 */
export async function refreshAccessToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  refreshToken: string,
  context: TokenRequestContext,
  previousRevocationEndpoint?: string | null,
): Promise<TokenSet> {
  return tokenGrant(as, config, context, {
    sent: sentSecrets(config, context.clientSecret, refreshToken),
    previousRefreshToken: refreshToken,
    ...(previousRevocationEndpoint !== undefined ? { previousRevocationEndpoint } : {}),
    request: ({ client, auth, options }) => oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, options),
    validate: oauth.processRefreshTokenResponse,
  });
}

/** Client credentials grant (RFC 6749 §4.4). */
export async function requestClientCredentialsToken(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  context: TokenRequestContext,
): Promise<TokenSet> {
  const parameters = new URLSearchParams(config.tokenParams);
  if (config.scope) parameters.set('scope', config.scope);
  return tokenGrant(as, config, context, {
    sent: sentSecrets(config, context.clientSecret),
    previousRefreshToken: null,
    // The profile's token parameters are in the body already: the request options carry none.
    request: ({ client, auth, options: { additionalParameters: _inBody, ...options } }) =>
      oauth.clientCredentialsGrantRequest(as, client, auth, parameters, options),
    validate: oauth.processClientCredentialsResponse,
  });
}

type GrantParts = ReturnType<typeof grantParts>;

/**
 * One grant at the token endpoint: its request, the validation of the answer (an ID Token the broker
 * cannot verify is dropped first), and the token set to store. Failures are classified, with every secret
 * the request carried (`sent`) redacted from them.
 */
async function tokenGrant(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  context: TokenRequestContext,
  grant: {
    sent: string[];
    previousRefreshToken: string | null;
    previousRevocationEndpoint?: string | null;
    request: (parts: GrantParts) => Promise<Response>;
    validate: (as: oauth.AuthorizationServer, client: oauth.Client, response: Response) => Promise<oauth.TokenEndpointResponse>;
  },
): Promise<TokenSet> {
  return withClassifiedFailures(grant.sent, async () => {
    const parts = grantParts(as, config, context);
    const response = await grant.request(parts);
    const body = await grant.validate(withIdTokenAlgorithms(as), parts.client, await withoutUnverifiableIdToken(as, response));
    return storedSet(body, as, config, context, grant);
  });
}

/** What every grant sends: the client, its authentication, and the request options with the profile's token parameters. */
function grantParts(as: oauth.AuthorizationServer, config: ProfileConfig, context: TokenRequestContext) {
  return {
    client: clientOf(config),
    auth: clientAuthOf(config, context),
    options: { ...requestOptions(as.token_endpoint, context), additionalParameters: config.tokenParams },
  };
}

/** The token set to store from a grant's validated answer, with the revocation endpoint of the server that issued it. */
function storedSet(
  body: oauth.TokenEndpointResponse,
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  context: TokenRequestContext,
  previous: { previousRefreshToken: string | null; previousRevocationEndpoint?: string | null },
): TokenSet {
  // Unknown (the issuer's discovery failed) is not recorded as "none": the refreshed set's endpoint is kept,
  // else revocation falls back to the profile's endpoint on the token endpoint's origin (lib/broker/revocation.ts).
  const revocationEndpoint = isRevocationEndpointUnknown(as) ? previous.previousRevocationEndpoint : (as.revocation_endpoint ?? null);
  return normalizeTokenResponse(body, {
    now: context.now,
    defaultLifetimeSeconds: config.defaultTokenLifetimeSeconds,
    previousRefreshToken: previous.previousRefreshToken,
    ...(revocationEndpoint !== undefined ? { revocationEndpoint } : {}),
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

async function withClassifiedFailures<T>(secrets: ReadonlyArray<string | null | undefined>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw classifyOAuthError(error, secrets);
  }
}
