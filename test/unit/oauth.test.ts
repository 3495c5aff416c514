import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type * as oauth from 'oauth4webapi';
import {
  AuthorizationResponseProblem,
  DiscoveryCache,
  OAuthFailure,
  basicAuthCredentials,
  buildAuthorizationRequest,
  classifyOAuthError,
  exchangeAuthorizationCode,
  isOAuthErrorCode,
  jwtExpiry,
  normalizeTokenResponse,
  redact,
  refreshAccessToken,
  requestClientCredentialsToken,
  resolveAuthorizationServer,
  retryAfterOf,
  validateAuthorizationResponse,
} from '../../lib/oauth.js';
import type { ProfileConfig } from '../../lib/profile.js';
import { profileConfig } from '../support/profile-config.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const REFRESH_TOKEN = 'rt-7f3a-very-secret-refresh-token';
const CLIENT_SECRET = 'cs-9b2d-very-secret-client-secret';
const AS: oauth.AuthorizationServer = { issuer: 'urn:x', token_endpoint: 'https://as.example/token' };

const config = profileConfig;

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

describe('a client secret missing from the vault', () => {
  it('is a passing failure (client_secret_missing), retried with backoff, and nothing is sent', async () => {
    // Prepare
    let requests = 0;
    const fetch = (async () => {
      requests++;
      return json({ access_token: 'at', token_type: 'Bearer', expires_in: 60 });
    }) as typeof globalThis.fetch;

    // Act
    const failure = await refreshAccessToken(AS, config(), REFRESH_TOKEN, { now: NOW, clientSecret: undefined, fetch }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(failure).toBeInstanceOf(OAuthFailure);
    expect(failure).toMatchObject({ code: 'client_secret_missing', kind: 'passing' });
    expect(requests).toBe(0);
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

describe('classifyOAuthError: a 3xx or 4xx without an OAuth error is an error, not a passing failure', () => {
  it.each([
    [401, 'text/html', '<h1>401 Authorization Required</h1>'],
    [403, 'text/html', '<h1>Request blocked by the web application firewall</h1>'],
    [404, 'text/html', '<h1>Not Found</h1>'],
    [405, 'text/plain', 'Method Not Allowed'],
    [400, 'application/json', '{"message":"bad request"}'],
    [302, 'text/html', 'see /login'],
  ])('maps HTTP %i to invalid_response, error, naming the status and what to check', async (status, contentType, text) => {
    // Act
    const failure = await refreshFailure(() => new Response(text, { status, headers: { 'content-type': contentType } }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'error', httpStatus: status });
    expect(failure.message).toContain(`HTTP ${status}`);
    expect(failure.message).toContain('tokenUrl');
    expect(failure.message).toContain('clientAuthMethod');
  });

  it('keeps a 408 passing', async () => {
    // Act
    const failure = await refreshFailure(() => new Response('timeout', { status: 408, headers: { 'content-type': 'text/plain' } }));

    // Assess
    expect(failure).toMatchObject({ kind: 'passing', httpStatus: 408 });
  });

  it('keeps a 429 and a 5xx passing', async () => {
    // Act
    const throttled = await refreshFailure(() => new Response('', { status: 429 }));
    const failed = await refreshFailure(() => new Response('', { status: 502 }));

    // Assess
    expect(throttled).toMatchObject({ code: 'server_error', kind: 'passing' });
    expect(failed).toMatchObject({ code: 'server_error', kind: 'passing' });
  });

  it('classifies a client_credentials request to a wrong tokenUrl (404) as an error', async () => {
    // Prepare
    const fetch = (async () => new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain' } })) as typeof globalThis.fetch;

    // Act
    const outcome = requestClientCredentialsToken(AS, config({ grantType: 'client_credentials' }), { now: NOW, clientSecret: CLIENT_SECRET, fetch });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'invalid_response', kind: 'error', httpStatus: 404 });
  });
});

describe('classifyOAuthError: the server error code is validated', () => {
  it.each([
    ['a space', 'invalid grant'],
    ['a quote', 'invalid_grant"'],
    ['a backslash', 'invalid\\grant'],
    ['HTML', '<script>alert(1)</script>'],
    ['65 characters', 'e'.repeat(65)],
    ['a non-ASCII letter', 'invalid_grantä'],
    ['a newline', 'invalid_grant\nx'],
    ['the empty string', ''],
  ])('refuses a code with %s', (_, code) => {
    // Act / Assess
    expect(isOAuthErrorCode(code)).toBe(false);
  });

  it.each(['invalid_grant', 'access_denied', 'urn.vendor-code_1', 'E'.repeat(64)])('accepts %s', (code) => {
    // Act / Assess
    expect(isOAuthErrorCode(code)).toBe(true);
  });

  it('maps a 400 whose error code is not an OAuth code to invalid_response, error, without repeating the code', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'some <b>weird</b> code', error_description: 'x' }, 400));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'error', httpStatus: 400 });
    expect(failure.message).not.toContain('weird');
  });

  it('maps a 429 whose error code is not an OAuth code to a passing server_error', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'rate limited!' }, 429, { 'retry-after': '3' }));

    // Assess
    expect(failure).toMatchObject({ code: 'server_error', kind: 'passing', retryAfterSeconds: 3 });
  });

  it('maps a 200 whose error code is not an OAuth code to a passing invalid_response', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'x'.repeat(100) }));

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
    expect(failure.message).not.toContain('x'.repeat(100));
  });

  it('takes a WWW-Authenticate challenge with an invalid error code as invalid_client', async () => {
    // Act
    const failure = await refreshFailure(
      () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="as", error="no good"' } }),
    );

    // Assess
    expect(failure).toMatchObject({ code: 'invalid_client', kind: 'error' });
  });

  it('does not repeat an invalid error code from the authorization response', () => {
    // Prepare
    const as: oauth.AuthorizationServer = { issuer: 'https://as.example', authorization_endpoint: 'https://as.example/authorize' };
    const params = new URLSearchParams({ error: '<img src=x onerror=alert(1)>', state: 's1' });

    // Act
    let problem: AuthorizationResponseProblem | undefined;
    try {
      validateAuthorizationResponse(as, config(), params, 's1');
    } catch (error) {
      problem = error as AuthorizationResponseProblem;
    }

    // Assess
    expect(problem).toBeInstanceOf(AuthorizationResponseProblem);
    expect(problem).toMatchObject({ reason: 'server_error', oauthError: undefined });
    expect(problem!.message).not.toContain('img');
  });

  it('strips control characters from an echoed description', async () => {
    // Act
    const failure = await refreshFailure(() => json({ error: 'invalid_grant', error_description: 'line one\nline two\u0007' }, 400));

    // Assess
    expect(failure.message).toContain('line one line two');
    expect(failure.message).not.toContain('\n');
    expect(failure.message).not.toContain('\u0007');
  });
});

describe('redact', () => {
  const SPECIAL_SECRET = 'cs/9b+2d very=secret&more~(x)';

  it.each([
    ['as it is', SPECIAL_SECRET],
    ['percent-encoded', encodeURIComponent(SPECIAL_SECRET)],
    ['percent-encoded with lower-case hex', encodeURIComponent(SPECIAL_SECRET).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())],
    ['form-encoded (URLSearchParams)', new URLSearchParams({ v: SPECIAL_SECRET }).toString().slice(2)],
  ])('cuts the secret out %s', (_, form) => {
    // Act
    const out = redact(`client_secret=${form} was refused`, [SPECIAL_SECRET]);

    // Assess
    expect(out).toBe('client_secret=[redacted] was refused');
  });

  it('cuts out the client_secret_basic credentials given with the secrets', () => {
    // Prepare
    const [basic] = basicAuthCredentials('mes client', SPECIAL_SECRET);

    // Act
    const out = redact(`bad header: Basic ${basic}`, [SPECIAL_SECRET, ...basicAuthCredentials('mes client', SPECIAL_SECRET)]);

    // Assess
    expect(out).toBe('bad header: Basic [redacted]');
  });

  it('computes the Basic credentials as oauth4webapi sends them (form-encoded id and secret)', async () => {
    // Prepare
    let authorization: string | null = null;
    const fetch = (async (_url: string, init?: RequestInit) => {
      authorization = new Headers(init?.headers).get('authorization');
      return json({ access_token: 'at', token_type: 'Bearer', expires_in: 60 });
    }) as unknown as typeof globalThis.fetch;

    // Act
    await refreshAccessToken(AS, config({ clientId: 'mes client' }), REFRESH_TOKEN, { now: NOW, clientSecret: SPECIAL_SECRET, fetch });

    // Assess
    expect(authorization).toBe(`Basic ${basicAuthCredentials('mes client', SPECIAL_SECRET)[0]}`);
  });

  it('leaves values shorter than 4 characters alone', () => {
    // Act / Assess
    expect(redact('a b c', ['b'])).toBe('a b c');
  });

  it('cuts the encoded secret and the Basic credentials out of a token-endpoint description', async () => {
    // Prepare
    const basic = basicAuthCredentials('mes-client', SPECIAL_SECRET)[0]!;
    const description = `got client_secret=${encodeURIComponent(SPECIAL_SECRET)} and Authorization: Basic ${basic}`;
    const fetch = (async () => json({ error: 'invalid_client', error_description: description }, 401)) as typeof globalThis.fetch;

    // Act
    const failure = await refreshAccessToken(AS, config(), REFRESH_TOKEN, { now: NOW, clientSecret: SPECIAL_SECRET, fetch }).then(
      () => {
        throw new Error('expected the refresh to fail');
      },
      (error: unknown) => error as OAuthFailure,
    );

    // Assess
    expect(failure).toBeInstanceOf(OAuthFailure);
    expect(failure.message).not.toContain(encodeURIComponent(SPECIAL_SECRET));
    expect(failure.message).not.toContain(basic);
    expect(failure.message).toContain('[redacted]');
  });
});

describe('retryAfterOf', () => {
  it('reads delay-seconds and an HTTP-date', () => {
    // Prepare
    const at = (value: string) => new Response(null, { status: 503, headers: { 'retry-after': value } });

    // Act / Assess
    expect(retryAfterOf(at('12'), NOW)).toBe(12);
    expect(retryAfterOf(at(new Date(NOW + 30_000).toUTCString()), NOW)).toBe(30);
    expect(retryAfterOf(at('soon'), NOW)).toBeUndefined();
    expect(retryAfterOf(undefined, NOW)).toBeUndefined();
  });
});

describe('resolveAuthorizationServer: discovery only when a needed endpoint is missing', () => {
  const ISSUER = 'https://as.example';
  const METADATA = {
    issuer: ISSUER,
    authorization_endpoint: 'https://as.example/discovered/authorize',
    token_endpoint: 'https://as.example/discovered/token',
    revocation_endpoint: 'https://as.example/discovered/revoke',
  };

  /** A fetch that counts requests and answers each with `answer`. */
  function countingFetch(answer: () => Response) {
    const urls: string[] = [];
    const fetch = (async (url: string | URL) => {
      urls.push(String(url));
      return answer();
    }) as unknown as typeof globalThis.fetch;
    return { urls, fetch };
  }

  const explicit = (overrides: Partial<ProfileConfig> = {}) => config({ issuer: ISSUER, ...overrides });

  it('makes no request on the refresh path for an issuer profile with explicit endpoints and no revocationUrl', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => new Response('Not Found', { status: 404 }));

    // Act
    const as = await resolveAuthorizationServer(explicit(), { fetch, cache: new DiscoveryCache(), now: NOW });

    // Assess
    expect(urls).toEqual([]);
    expect(as).toMatchObject({ issuer: ISSUER, token_endpoint: 'https://as.example/token', authorization_endpoint: 'https://as.example/authorize' });
    expect(as.revocation_endpoint).toBeUndefined();
  });

  it('discovers the revocation endpoint when asked to', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => json(METADATA));

    // Act
    const as = await resolveAuthorizationServer(explicit(), { fetch, cache: new DiscoveryCache(), now: NOW, needRevocation: true });

    // Assess
    expect(urls).toEqual(['https://as.example/.well-known/openid-configuration']);
    expect(as).toMatchObject({ token_endpoint: 'https://as.example/token', revocation_endpoint: 'https://as.example/discovered/revoke' });
  });

  it('does not discover when the revocation endpoint is asked for but configured', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => json(METADATA));

    // Act
    const as = await resolveAuthorizationServer(explicit({ revocationUrl: 'https://as.example/revoke' }), { fetch, needRevocation: true });

    // Assess
    expect(urls).toEqual([]);
    expect(as.revocation_endpoint).toBe('https://as.example/revoke');
  });

  it('discovers a missing token endpoint, and the authorization endpoint of an authorization_code profile', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => json(METADATA));

    // Act
    const noToken = await resolveAuthorizationServer(explicit({ tokenUrl: null }), { fetch });
    const noAuthorization = await resolveAuthorizationServer(explicit({ authorizationUrl: null }), { fetch });
    const clientCredentials = await resolveAuthorizationServer(explicit({ grantType: 'client_credentials', authorizationUrl: null }), { fetch });

    // Assess
    expect(noToken.token_endpoint).toBe('https://as.example/discovered/token');
    expect(noAuthorization.authorization_endpoint).toBe('https://as.example/discovered/authorize');
    expect(clientCredentials.token_endpoint).toBe('https://as.example/token');
    expect(urls).toHaveLength(2);
  });

  it('remembers a failed discovery for 5 minutes and throws it again without asking the issuer', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => new Response('Not Found', { status: 404 }));
    const cache = new DiscoveryCache();
    const profile = explicit({ tokenUrl: null });

    // Act
    const first = await resolveAuthorizationServer(profile, { fetch, cache, now: NOW }).catch((error: unknown) => error);
    const requestsAfterFirst = urls.length;
    const second = await resolveAuthorizationServer(profile, { fetch, cache, now: NOW + 4 * 60_000 }).catch((error: unknown) => error);
    const requestsAfterSecond = urls.length;
    const third = await resolveAuthorizationServer(profile, { fetch, cache, now: NOW + 5 * 60_000 }).catch((error: unknown) => error);

    // Assess
    expect(requestsAfterFirst).toBe(2); // OpenID Connect, then RFC 8414
    expect(first).toBeInstanceOf(OAuthFailure);
    expect(second).toBe(first);
    expect(requestsAfterSecond).toBe(2);
    expect(third).toBeInstanceOf(OAuthFailure);
    expect(urls).toHaveLength(4);
  });

  it('does not fail a revocation lookup when discovery fails, and remembers that failure too', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => new Response('Not Found', { status: 404 }));
    const cache = new DiscoveryCache();

    // Act
    const first = await resolveAuthorizationServer(explicit(), { fetch, cache, now: NOW, needRevocation: true });
    const second = await resolveAuthorizationServer(explicit(), { fetch, cache, now: NOW + 1000, needRevocation: true });

    // Assess
    expect(first.revocation_endpoint).toBeUndefined();
    expect(second.token_endpoint).toBe('https://as.example/token');
    expect(urls).toHaveLength(2);
  });

  it('classifies an issuer without a metadata document as a configuration error', async () => {
    // Prepare
    const { fetch } = countingFetch(() => new Response('Not Found', { status: 404 }));

    // Act
    const outcome = resolveAuthorizationServer(explicit({ tokenUrl: null }), { fetch });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'invalid_configuration', kind: 'error', httpStatus: 404 });
    await expect(outcome).rejects.toThrow(/issuer/);
  });

  it('classifies an issuer that fails (503) as a passing failure', async () => {
    // Prepare
    const { fetch } = countingFetch(() => new Response('', { status: 503, headers: { 'retry-after': '20' } }));

    // Act
    const outcome = resolveAuthorizationServer(explicit({ tokenUrl: null }), { fetch });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: 'server_error', kind: 'passing', retryAfterSeconds: 20 });
  });

  it('reuses a successful discovery from the cache', async () => {
    // Prepare
    const { urls, fetch } = countingFetch(() => json(METADATA));
    const cache = new DiscoveryCache();

    // Act
    await resolveAuthorizationServer(explicit({ tokenUrl: null }), { fetch, cache, now: NOW });
    await resolveAuthorizationServer(explicit({ tokenUrl: null }), { fetch, cache, now: NOW + 30 * 60_000 });

    // Assess
    expect(urls).toHaveLength(1);
  });

  it('accepts an ES256 ID Token from an issuer whose metadata was not discovered', async () => {
    // Prepare: issuer and explicit endpoints, so no metadata says which algorithms the issuer uses.
    const profile = explicit();
    const as = await resolveAuthorizationServer(profile, {});
    const issuedAt = Math.floor(Date.now() / 1000); // oauth4webapi checks exp and iat against the real clock
    const idToken = [
      { alg: 'ES256', typ: 'JWT' },
      { iss: ISSUER, aud: 'mes-client', sub: 'u1', iat: issuedAt, exp: issuedAt + 300 },
    ]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
      .join('.') + '.c2ln';
    const fetch = (async () => json({ access_token: 'at', token_type: 'Bearer', expires_in: 60, id_token: idToken })) as typeof globalThis.fetch;
    const callback = validateAuthorizationResponse(as, profile, new URLSearchParams({ code: 'c1', state: 's1', iss: ISSUER }), 's1');

    // Act
    const tokens = await exchangeAuthorizationCode(as, profile, callback, 'https://broker.example/callback', null, { now: NOW, clientSecret: CLIENT_SECRET, fetch });

    // Assess
    expect(tokens.accessToken).toBe('at');
  });
});
