import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type * as oauth from 'oauth4webapi';
import {
  AuthorizationResponseProblem,
  OAuthFailure,
  buildAuthorizationRequest,
  classifyOAuthError,
  jwtExpiry,
  normalizeTokenResponse,
  refreshAccessToken,
  resolveAuthorizationServer,
  validateAuthorizationResponse,
} from '../../lib/oauth.js';
import type { ProfileConfig } from '../../lib/profile.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const REFRESH_TOKEN = 'rt-7f3a-very-secret-refresh-token';
const CLIENT_SECRET = 'cs-9b2d-very-secret-client-secret';
const AS: oauth.AuthorizationServer = { issuer: 'urn:x', token_endpoint: 'https://as.example/token' };

const config = (overrides: Partial<ProfileConfig> = {}): ProfileConfig => ({
  grantType: 'authorization_code',
  authorizationUrl: 'https://as.example/authorize',
  tokenUrl: 'https://as.example/token',
  issuer: null,
  clientId: 'mes-client',
  clientAuthMethod: 'client_secret_basic',
  scope: 'openid offline_access',
  authorizationParams: {},
  tokenParams: {},
  usePkce: true,
  defaultTokenLifetimeSeconds: 3600,
  revocationUrl: null,
  ...overrides,
});

/** A JWS compact serialization with the given payload (unsigned: only `exp` is read). */
const jwt = (payload: Record<string, unknown>) =>
  [{ alg: 'RS256', typ: 'at+jwt' }, payload].map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.c2ln';

const tokenBody = (body: Record<string, unknown>) => body as unknown as oauth.TokenEndpointResponse;

describe('normalizeTokenResponse', () => {
  const options = { now: NOW, defaultLifetimeSeconds: 3600, previousRefreshToken: null };

  it.each(['bearer', 'Bearer', 'BEARER', 'bEaReR'])('normalises token_type %s to Bearer', (tokenType) => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: 'at', token_type: tokenType, expires_in: 60 }), options);

    // Assess
    expect(tokens.tokenType).toBe('Bearer');
  });

  it('normalises DPoP', () => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: 'at', token_type: 'dpop', expires_in: 60 }), options);

    // Assess
    expect(tokens.tokenType).toBe('DPoP');
  });

  it('uses expires_in when present', () => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: jwt({ exp: 1 }), token_type: 'bearer', expires_in: 120, scope: 'a b' }), options);

    // Assess
    expect(tokens.expiresAt).toBe(new Date(NOW + 120_000).toISOString());
    expect(tokens.obtainedAt).toBe(new Date(NOW).toISOString());
    expect(tokens.scope).toBe('a b');
  });

  it("uses a JWT access token's exp when expires_in is absent", () => {
    // Prepare
    const exp = NOW / 1000 + 900;

    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: jwt({ sub: 'x', exp }), token_type: 'bearer' }), options);

    // Assess
    expect(tokens.expiresAt).toBe(new Date(exp * 1000).toISOString());
  });

  it('uses the default lifetime for an opaque token without expires_in', () => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: 'opaque-token', token_type: 'bearer' }), {
      ...options,
      defaultLifetimeSeconds: 600,
    });

    // Assess
    expect(tokens.expiresAt).toBe(new Date(NOW + 600_000).toISOString());
    expect(tokens.scope).toBeNull();
  });

  it('keeps the previous refresh token when the response has none', () => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: 'at', token_type: 'bearer', expires_in: 60 }), {
      ...options,
      previousRefreshToken: 'old-rt',
    });

    // Assess
    expect(tokens.refreshToken).toBe('old-rt');
  });

  it('takes a rotated refresh token', () => {
    // Act
    const tokens = normalizeTokenResponse(tokenBody({ access_token: 'at', token_type: 'bearer', refresh_token: 'new-rt' }), {
      ...options,
      previousRefreshToken: 'old-rt',
    });

    // Assess
    expect(tokens.refreshToken).toBe('new-rt');
  });

  it('refuses an empty refresh token', () => {
    // Act
    const act = () =>
      normalizeTokenResponse(tokenBody({ access_token: 'at', token_type: 'bearer', refresh_token: '' }), { ...options, previousRefreshToken: 'old-rt' });

    // Assess
    expect(act).toThrow(OAuthFailure);
    expect(act).toThrow(expect.objectContaining({ code: 'invalid_response' }));
  });
});

describe('jwtExpiry', () => {
  it('reads exp from a JWT', () => {
    // Act / Assess
    expect(jwtExpiry(jwt({ exp: 1_800_000_000 }))).toBe(1_800_000_000);
  });

  it.each([
    ['an opaque token', 'opaque'],
    ['two parts', 'a.b'],
    ['a payload that is not JSON', `x.${Buffer.from('not json').toString('base64url')}.y`],
    ['no exp', jwt({ sub: 'x' })],
    ['a string exp', jwt({ exp: '1800000000' })],
    ['a JSON null payload', `x.${Buffer.from('null').toString('base64url')}.y`],
  ])('is undefined for %s', (_, token) => {
    // Act / Assess
    expect(jwtExpiry(token)).toBeUndefined();
  });
});

/** Runs a refresh against a fetch that answers `answer`, and returns the OAuthFailure it throws. */
async function refreshFailure(answer: () => Response | Promise<Response>): Promise<OAuthFailure> {
  const fetch = (async () => answer()) as typeof globalThis.fetch;
  try {
    await refreshAccessToken(AS, config(), REFRESH_TOKEN, { now: NOW, clientSecret: CLIENT_SECRET, fetch });
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthFailure);
    return error as OAuthFailure;
  }
  throw new Error('expected the refresh to fail');
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('classifyOAuthError (through refreshAccessToken)', () => {
  it('sends a refresh_token grant with client_secret_basic and returns the new token set', async () => {
    // Prepare
    const requests: Array<{ url: string; init: RequestInit | undefined }> = [];
    const fetch = (async (url: string, init?: RequestInit) => {
      requests.push({ url, init });
      return json({ access_token: 'at-2', token_type: 'Bearer', expires_in: 300 });
    }) as unknown as typeof globalThis.fetch;

    // Act
    const tokens = await refreshAccessToken(AS, config(), REFRESH_TOKEN, { now: NOW, clientSecret: CLIENT_SECRET, fetch });

    // Assess
    expect(tokens).toMatchObject({ accessToken: 'at-2', tokenType: 'Bearer', refreshToken: REFRESH_TOKEN });
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toBe('https://as.example/token');
    const body = new URLSearchParams(String(requests[0]!.init?.body));
    expect(body.get('grant_type')).toBe('refresh_token');
    expect(body.get('refresh_token')).toBe(REFRESH_TOKEN);
    expect(body.get('client_secret')).toBeNull();
    const authorization = new Headers(requests[0]!.init?.headers).get('authorization');
    expect(authorization).toMatch(/^Basic /);
  });

  it('maps 400 invalid_grant to authorization_required', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'invalid_grant' }, 400));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_grant', kind: 'authorization_required', httpStatus: 400 });
  });

  it('maps 401 invalid_client to error', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'invalid_client' }, 401));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_client', kind: 'error' });
  });

  it('maps a 401 WWW-Authenticate challenge to invalid_client, error', async () => {
    // Act
    const failure = await refreshFailure(
      () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="as", error="invalid_client"' } }),
    );

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_client', kind: 'error' });
  });

  it('maps unauthorized_client to error', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'unauthorized_client' }, 400));

    // Assess
    expect(failure).toMatchObject({ code: 'unauthorized_client', kind: 'error' });
  });

  it('maps 503 to a passing server_error', async () => {
    // Act
    const failure = await refreshFailure(() => new Response('<h1>Service Unavailable</h1>', { status: 503, headers: { 'content-type': 'text/html' } }));

    // Assess
    expect(failure).toMatchObject({ code: 'server_error', kind: 'passing', httpStatus: 503 });
  });

  it('maps 429 to passing and honours Retry-After', async () => {
    // Act
    const failure = await refreshFailure(() => new Response('slow down', { status: 429, headers: { 'retry-after': '7', 'content-type': 'text/plain' } }));

    // Assess
    expect(failure).toMatchObject({ kind: 'passing', retryAfterSeconds: 7, httpStatus: 429 });
  });

  it('maps a 429 with an OAuth error body to passing and honours Retry-After', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'slow_down' }, 429, { 'retry-after': '7' }));

    // Assess
    expect(failure).toMatchObject({ kind: 'passing', retryAfterSeconds: 7 });
  });

  it('maps a non-JSON 200 to invalid_response', async () => {
    // Act
    const failure = await refreshFailure(() => new Response('<html>login</html>', { status: 200, headers: { 'content-type': 'text/html' } }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
  });

  it('maps a 200 that claims JSON but is not to invalid_response', async () => {
    // Act
    const failure = await refreshFailure(() => new Response('{"access_token":', { status: 200, headers: { 'content-type': 'application/json' } }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
  });

  it('classifies a 200 whose body is {"error":"invalid_grant"} by its code', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'invalid_grant' }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_grant', kind: 'authorization_required' });
  });

  it('maps a response without access_token to invalid_response', async () => {
    // Act
    const failure = await refreshFailure(() => json({ token_type: 'Bearer', expires_in: 60 }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
    expect(failure.message).toContain('access_token');
  });

  it('maps token_type "mac" to invalid_response', async () => {
    // Act
    const failure = await refreshFailure(() => json({ access_token: 'at', token_type: 'mac', expires_in: 60 }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
  });

  it('maps a rejected fetch to a passing network_error', async () => {
    // Act
    const failure = await refreshFailure(() => Promise.reject(new TypeError('fetch failed')));

    // Assess
    expect(failure).toMatchObject({ code: 'network_error', kind: 'passing' });
  });

  it('cuts the refresh token and the client secret out of an echoed error_description', async () => {
    // Act
    const failure = await refreshFailure(() =>
      json({ error: 'invalid_grant', error_description: `refresh token ${REFRESH_TOKEN} of client with secret ${CLIENT_SECRET} is revoked` }, 400),
    );

    // Assess
    expect(failure.kind).toBe('authorization_required');
    expect(failure.message).toContain('[redacted]');
    expect(failure.message).toContain('is revoked');
    expect(failure.message).not.toContain(REFRESH_TOKEN);
    expect(failure.message).not.toContain(CLIENT_SECRET);
  });

  it('cuts the refresh token out of a description in a 200 error body', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'invalid_grant', error_description: `unknown ${REFRESH_TOKEN}` }));

    // Assess
    expect(failure.message).not.toContain(REFRESH_TOKEN);
  });

  it('passes an OAuthFailure through unchanged', () => {
    // Prepare
    const failure = new OAuthFailure('invalid_client', 'error', 'no secret');

    // Act / Assess
    expect(classifyOAuthError(failure)).toBe(failure);
  });

  it('maps a timeout to network_error', () => {
    // Act
    const failure = classifyOAuthError(new DOMException('The operation timed out.', 'TimeoutError'));

    // Assess
    expect(failure).toMatchObject({ code: 'network_error', kind: 'passing' });
  });
});

describe('buildAuthorizationRequest', () => {
  const as: oauth.AuthorizationServer = { issuer: 'urn:x', authorization_endpoint: 'https://as.example/authorize?tenant=t1' };

  it('builds a code request with a fresh state of at least 128 bits and a PKCE S256 challenge', async () => {
    // Act
    const first = await buildAuthorizationRequest(as, config(), 'https://broker.example/callback');
    const second = await buildAuthorizationRequest(as, config(), 'https://broker.example/callback');

    // Assess
    const params = first.url.searchParams;
    expect(first.url.origin + first.url.pathname).toBe('https://as.example/authorize');
    expect(params.get('tenant')).toBe('t1');
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe('mes-client');
    expect(params.get('redirect_uri')).toBe('https://broker.example/callback');
    expect(params.get('scope')).toBe('openid offline_access');
    expect(params.get('state')).toBe(first.state);
    expect(first.state).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(first.state).not.toBe(second.state);
    expect(first.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(first.codeVerifier).not.toBe(second.codeVerifier);
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toBe(createHash('sha256').update(first.codeVerifier!).digest('base64url'));
  });

  it('sends no challenge when usePkce is false', async () => {
    // Act
    const request = await buildAuthorizationRequest(as, config({ usePkce: false }), 'https://broker.example/callback');

    // Assess
    expect(request.codeVerifier).toBeNull();
    expect(request.url.searchParams.has('code_challenge')).toBe(false);
    expect(request.url.searchParams.has('code_challenge_method')).toBe(false);
  });

  it('adds the extra parameters and leaves out an absent scope', async () => {
    // Act
    const request = await buildAuthorizationRequest(
      as,
      config({ scope: null, authorizationParams: { audience: 'api://mes', prompt: 'consent' } }),
      'https://broker.example/callback',
    );

    // Assess
    expect(request.url.searchParams.get('audience')).toBe('api://mes');
    expect(request.url.searchParams.get('prompt')).toBe('consent');
    expect(request.url.searchParams.has('scope')).toBe(false);
  });

  it('sets the reserved parameters itself, even over ones smuggled into the stored config', async () => {
    // Prepare: validation refuses these; the builder must not depend on it.
    const smuggled = config({
      authorizationParams: {
        client_id: 'evil',
        redirect_uri: 'https://evil.example/',
        response_type: 'token',
        state: 'fixed',
        code_challenge: 'x',
        code_challenge_method: 'plain',
      },
    });

    // Act
    const request = await buildAuthorizationRequest(as, smuggled, 'https://broker.example/callback');

    // Assess
    const params = request.url.searchParams;
    expect(params.getAll('client_id')).toEqual(['mes-client']);
    expect(params.getAll('redirect_uri')).toEqual(['https://broker.example/callback']);
    expect(params.getAll('response_type')).toEqual(['code']);
    expect(params.getAll('state')).toEqual([request.state]);
    expect(params.getAll('code_challenge_method')).toEqual(['S256']);
    expect(params.getAll('code_challenge')).toEqual([createHash('sha256').update(request.codeVerifier!).digest('base64url')]);
  });

  it('refuses a server without an authorization endpoint', async () => {
    // Act
    const act = buildAuthorizationRequest({ issuer: 'urn:x' }, config(), 'https://broker.example/callback');

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'invalid_configuration', kind: 'error' });
  });
});

describe('validateAuthorizationResponse', () => {
  const known: oauth.AuthorizationServer = { issuer: 'https://as.example', authorization_endpoint: 'https://as.example/authorize' };

  /** Runs the validation and returns the problem it throws. */
  function problem(as: oauth.AuthorizationServer, params: Record<string, string>, expectedState = 's1'): AuthorizationResponseProblem {
    try {
      validateAuthorizationResponse(as, config(), new URLSearchParams(params), expectedState);
    } catch (error) {
      expect(error).toBeInstanceOf(AuthorizationResponseProblem);
      return error as AuthorizationResponseProblem;
    }
    throw new Error('expected the validation to fail');
  }

  it('accepts a code with the expected state and iss', () => {
    // Act
    const validated = validateAuthorizationResponse(known, config(), new URLSearchParams({ code: 'c1', state: 's1', iss: 'https://as.example' }), 's1');

    // Assess
    expect(validated.get('code')).toBe('c1');
  });

  it('refuses an iss that is not the known issuer', () => {
    // Act
    const refused = problem(known, { code: 'c1', state: 's1', iss: 'https://evil.example' });

    // Assess
    expect(refused.reason).toBe('iss_mismatch');
  });

  it('ignores iss when the issuer is unknown', async () => {
    // Prepare
    const unknown = await resolveAuthorizationServer(config(), {});

    // Act
    const validated = validateAuthorizationResponse(unknown, config(), new URLSearchParams({ code: 'c1', state: 's1', iss: 'https://anything.example' }), 's1');

    // Assess
    expect(validated.get('code')).toBe('c1');
  });

  it('reports error=access_denied with its description', () => {
    // Act
    const refused = problem(known, { error: 'access_denied', error_description: 'The user said no', state: 's1' });

    // Assess
    expect(refused).toMatchObject({ reason: 'access_denied', oauthError: 'access_denied', description: 'The user said no' });
  });

  it('reports another error code as server_error', () => {
    // Act
    const refused = problem(known, { error: 'temporarily_unavailable', state: 's1' });

    // Assess
    expect(refused).toMatchObject({ reason: 'server_error', oauthError: 'temporarily_unavailable' });
  });

  it('refuses a response without code', () => {
    // Act
    const refused = problem(known, { state: 's1' });

    // Assess
    expect(refused.reason).toBe('missing_code');
  });

  it('refuses a state that is not the expected one', () => {
    // Act
    const refused = problem(known, { code: 'c1', state: 's2' });

    // Assess
    expect(refused.reason).toBe('state_mismatch');
  });
});

describe('classifyOAuthError: configuration problems and accurate messages', () => {
  /** A refresh against `as`; returns the failure and whether any request was sent. */
  async function refreshAgainst(as: oauth.AuthorizationServer): Promise<{ failure: OAuthFailure; requests: number }> {
    let requests = 0;
    const fetch = (async () => {
      requests++;
      return json({ access_token: 'at', token_type: 'Bearer', expires_in: 60 });
    }) as typeof globalThis.fetch;
    try {
      await refreshAccessToken(as, config(), REFRESH_TOKEN, { now: NOW, clientSecret: CLIENT_SECRET, fetch });
    } catch (error) {
      expect(error).toBeInstanceOf(OAuthFailure);
      return { failure: error as OAuthFailure, requests };
    }
    throw new Error('expected the refresh to fail');
  }

  it('classifies metadata without a token endpoint as a configuration error, not a passing failure', async () => {
    // Act
    const { failure, requests } = await refreshAgainst({ issuer: 'https://as.example' });

    // Assess
    expect(requests).toBe(0);
    expect(failure).toMatchObject({ code: 'invalid_configuration', kind: 'error' });
  });

  it('classifies a (discovered) http: token endpoint on a non-loopback host as a configuration error', async () => {
    // Act
    const { failure, requests } = await refreshAgainst({ issuer: 'https://as.example', token_endpoint: 'http://as.example/token' });

    // Assess
    expect(requests).toBe(0);
    expect(failure).toMatchObject({ code: 'invalid_configuration', kind: 'error' });
  });

  it('describes a 400 carrying the OAuth error temporarily_unavailable without claiming there was no OAuth error', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'temporarily_unavailable' }, 400));

    // Assess
    expect(failure).toMatchObject({ code: 'temporarily_unavailable', kind: 'passing' });
    expect(failure.message).not.toMatch(/without an OAuth error/);
  });

  it('does not invent an HTTP status for a 200 whose body is {"error":"server_error"}', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'server_error' }));

    // Assess
    expect(failure).toMatchObject({ code: 'server_error', kind: 'passing' });
    expect(failure.message).not.toMatch(/HTTP 503/);
  });

  it('treats an expires_in beyond the range of dates as an invalid response, not an unexpected failure', async () => {
    // Prepare
    const fetch = (async () => json({ access_token: 'at', token_type: 'Bearer', expires_in: 1e13 })) as typeof globalThis.fetch;

    // Act
    const outcome = await refreshAccessToken(AS, config(), REFRESH_TOKEN, { now: NOW, clientSecret: CLIENT_SECRET, fetch }).then(
      (tokens) => ({ expiresAt: Date.parse(tokens.expiresAt) }),
      (error: unknown) => ({ code: (error as OAuthFailure).code }),
    );

    // Assess: either a usable (clamped) expiry or a classified invalid_response.
    expect([{ code: 'invalid_response' }, { expiresAt: expect.any(Number) }]).toContainEqual(outcome);
    if ('expiresAt' in outcome) expect(Number.isNaN(outcome.expiresAt)).toBe(false);
  });
});
