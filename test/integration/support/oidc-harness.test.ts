/**
 * Proves the test harness (a real oidc-provider on loopback, consent helpers, resource server)
 * with oauth4webapi directly: no broker code.
 */
import { createServer, type Server } from 'node:http';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closeServer, listenOnLoopback } from '../../../lib/local/loopback.js';
import { completeConsentAndFollow, completeConsentInChromium, completeConsentProgrammatically } from '../../support/consent.js';
import { startOidcServer, type OidcServer } from '../../support/oidc-server.js';
import { startResourceServer, type ResourceServer } from '../../support/resource-server.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** a loopback "client" whose /callback answers 200 "done" */
async function startCallbackServer(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('done');
  });
  const port = await listenOnLoopback(server, 0);
  return {
    url: `http://127.0.0.1:${port}/callback`,
    hits,
    close: () => closeServer(server),
  };
}

describe('oidc test harness', () => {
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let server: OidcServer;
  let as: oauth.AuthorizationServer;
  let resourceServer: ResourceServer;

  const basicClient: oauth.Client = { client_id: 'basic-client' };
  const postClient: oauth.Client = { client_id: 'post-client' };
  const publicClient: oauth.Client = { client_id: 'public-client', token_endpoint_auth_method: 'none' };

  beforeAll(async () => {
    callback = await startCallbackServer();
    server = await startOidcServer({
      clients: [
        { clientId: 'basic-client', clientSecret: 'basic-secret', authMethod: 'client_secret_basic', redirectUris: [callback.url] },
        { clientId: 'post-client', clientSecret: 'post-secret', authMethod: 'client_secret_post', redirectUris: [callback.url] },
        { clientId: 'public-client', authMethod: 'none', redirectUris: [callback.url] },
      ],
      clientCredentials: true,
    });
    as = await oauth.processDiscoveryResponse(
      new URL(server.issuer),
      await oauth.discoveryRequest(new URL(server.issuer), { algorithm: 'oidc', ...insecure }),
    );
    resourceServer = await startResourceServer({ introspect: (t) => server.introspect(t) });
  });

  afterAll(async () => {
    await resourceServer?.close();
    await server?.close();
    await callback?.close();
  });

  async function authorize(client: oauth.Client, extra: Record<string, string> = {}) {
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: callback.url,
      response_type: 'code',
      scope: 'openid offline_access',
      prompt: 'consent',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    return { url: url.toString(), codeVerifier, state };
  }

  async function obtainTokens(client: oauth.Client, clientAuth: oauth.ClientAuth) {
    const { url, codeVerifier, state } = await authorize(client);
    const redirect = await completeConsentProgrammatically(url);
    const params = oauth.validateAuthResponse(as, client, new URL(redirect), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callback.url, codeVerifier, insecure);
    return oauth.processAuthorizationCodeResponse(as, client, response);
  }

  async function refresh(client: oauth.Client, clientAuth: oauth.ClientAuth, refreshToken: string) {
    const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, insecure);
    return oauth.processRefreshTokenResponse(as, client, response);
  }

  async function expectOAuthError(promise: Promise<unknown>, error: string): Promise<void> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(oauthErrorCode(err)).toBe(error);
  }

  /**
   * oidc-provider answers a failed client_secret_basic authentication with 401 and
   * `WWW-Authenticate: Basic error="invalid_client"`: oauth4webapi then throws a
   * WWWAuthenticateChallengeError, not a ResponseBodyError.
   */
  function oauthErrorCode(err: unknown): string | undefined {
    if (err instanceof oauth.ResponseBodyError) return err.error;
    if (err instanceof oauth.WWWAuthenticateChallengeError) return err.cause[0]?.parameters.error;
    return undefined;
  }

  it('serves discovery with the endpoints and RFC 9207 support', () => {
    expect(as.issuer).toBe(server.issuer);
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(as.token_endpoint).toBe(server.tokenEndpoint);
    expect(as.authorization_endpoint).toBe(server.authorizationEndpoint);
    expect(as.revocation_endpoint).toBe(server.revocationEndpoint);
    expect(as.introspection_endpoint).toBe(server.introspectionEndpoint);
    expect(as.userinfo_endpoint).toBe(server.url('/me'));
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.code_challenge_methods_supported).toContain('S256');
    expect(as.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access', 'api.read']));
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
  });

  it('completes consent programmatically: the redirect carries code, state and iss', async () => {
    const { url, state } = await authorize(basicClient);
    const redirect = new URL(await completeConsentProgrammatically(url, { login: 'alice' }));
    expect(`${redirect.origin}${redirect.pathname}`).toBe(callback.url);
    expect(redirect.searchParams.get('code')).toBeTruthy();
    expect(redirect.searchParams.get('state')).toBe(state);
    expect(redirect.searchParams.get('iss')).toBe(server.issuer);
    expect(callback.hits).toEqual([]); // not followed
    const params = oauth.validateAuthResponse(as, basicClient, redirect, state);
    expect(params.get('code')).toBe(redirect.searchParams.get('code'));
  });

  it('follows the redirect when asked, and a denied consent redirects with access_denied', async () => {
    const { url } = await authorize(basicClient);
    const { redirectUrl, response } = await completeConsentAndFollow(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('done');
    expect(callback.hits.at(-1)).toBe(new URL(redirectUrl).pathname + new URL(redirectUrl).search);

    const denied = await authorize(basicClient);
    const deniedUrl = new URL(await completeConsentProgrammatically(denied.url, { deny: true }));
    expect(deniedUrl.searchParams.get('error')).toBe('access_denied');
    expect(deniedUrl.searchParams.get('iss')).toBe(server.issuer);
    expect(deniedUrl.searchParams.get('state')).toBe(denied.state);
  });

  it('exchanges the code with client_secret_basic for an access and a refresh token', async () => {
    server.resetCounters();
    const tokens = await obtainTokens(basicClient, oauth.ClientSecretBasic('basic-secret'));
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope?.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access']));
    expect(server.grantCount('authorization_code')).toBe(1);
    expect(server.tokenRequests[0]).toMatchObject({ grantType: 'authorization_code', status: 200, injected: false, clientId: 'basic-client' });
    expect(await server.introspect(tokens.access_token)).toBe(true);
    expect(await server.introspect('not-a-token')).toBe(false);
  });

  it('exchanges the code with client_secret_post for an access and a refresh token', async () => {
    server.resetCounters();
    const tokens = await obtainTokens(postClient, oauth.ClientSecretPost('post-secret'));
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect(server.tokenRequests[0]).toMatchObject({ grantType: 'authorization_code', status: 200, clientId: 'post-client' });
  });

  it('refresh rotates the refresh token; reusing the old one is invalid_grant (and kills the grant)', async () => {
    const auth = oauth.ClientSecretBasic('basic-secret');
    const first = await obtainTokens(basicClient, auth);
    server.resetCounters();

    const second = await refresh(basicClient, auth, first.refresh_token!);
    expect(second.access_token).toBeTruthy();
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await server.refreshTokenActive(first.refresh_token!)).toBe(false);
    expect(await server.refreshTokenActive(second.refresh_token!)).toBe(true);

    await expectOAuthError(refresh(basicClient, auth, first.refresh_token!), 'invalid_grant');
    // oidc-provider treats reuse as theft: the whole grant, including the rotated token, is revoked
    await expectOAuthError(refresh(basicClient, auth, second.refresh_token!), 'invalid_grant');
    expect(await server.introspect(second.access_token)).toBe(false);

    expect(server.grantCount('refresh_token')).toBe(3);
    expect(server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(2);
    expect(server.grantCount('authorization_code')).toBe(0);
  });

  it('counts failed requests too (wrong client secret is invalid_client)', async () => {
    server.resetCounters();
    const { url, codeVerifier, state } = await authorize(basicClient);
    const params = oauth.validateAuthResponse(as, basicClient, new URL(await completeConsentProgrammatically(url)), state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, basicClient, oauth.ClientSecretBasic('wrong'), params, callback.url, codeVerifier, insecure,
    );
    const err = await oauth.processAuthorizationCodeResponse(as, basicClient, response).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect(oauthErrorCode(err)).toBe('invalid_client');
    expect((err as oauth.WWWAuthenticateChallengeError).status).toBe(401);
    expect(server.grantCount('authorization_code')).toBe(1);
    expect(server.grantErrorCount('authorization_code', 'invalid_client')).toBe(1);
  });

  it('answers canned responses from failTokenEndpoint, then behaves normally again', async () => {
    const auth = oauth.ClientSecretBasic('basic-secret');
    const tokens = await obtainTokens(basicClient, auth);
    server.resetCounters();
    server.failTokenEndpoint([
      { status: 503, body: 'upstream unavailable' },
      { status: 429, body: '{"error":"slow_down"}', headers: { 'retry-after': '7' } },
      { status: 200, body: '{"error":"invalid_grant"}' },
      { status: 200, body: JSON.stringify({ access_token: 'x', token_type: 'mac', expires_in: 60 }) },
      { status: 200, body: JSON.stringify({ token_type: 'Bearer', expires_in: 60 }) },
    ]);
    expect(server.pendingFailures()).toBe(5);

    const r503 = await oauth.refreshTokenGrantRequest(as, basicClient, auth, tokens.refresh_token!, insecure);
    expect(r503.status).toBe(503);
    expect(r503.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r503.text()).toBe('upstream unavailable');

    const r429 = await oauth.refreshTokenGrantRequest(as, basicClient, auth, tokens.refresh_token!, insecure);
    expect(r429.status).toBe(429);
    expect(r429.headers.get('retry-after')).toBe('7');
    expect(await r429.json()).toEqual({ error: 'slow_down' });

    const r200error = await oauth.refreshTokenGrantRequest(as, basicClient, auth, tokens.refresh_token!, insecure);
    expect(r200error.status).toBe(200);
    expect(await r200error.json()).toEqual({ error: 'invalid_grant' });

    const mac = await oauth.refreshTokenGrantRequest(as, basicClient, auth, tokens.refresh_token!, insecure);
    await expect(oauth.processRefreshTokenResponse(as, basicClient, mac)).rejects.toThrow(/token_type/);

    const missing = await oauth.refreshTokenGrantRequest(as, basicClient, auth, tokens.refresh_token!, insecure);
    await expect(oauth.processRefreshTokenResponse(as, basicClient, missing)).rejects.toThrow(/access_token/);

    expect(server.pendingFailures()).toBe(0);
    // the real server never saw those: the refresh token still works
    const refreshed = await refresh(basicClient, auth, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(server.grantCount('refresh_token')).toBe(6);
    expect(server.tokenRequests.filter((r) => r.injected)).toHaveLength(5);
    expect(server.grantErrorCount('refresh_token', 'slow_down')).toBe(1);
  });

  it('revokeGrantsFor makes the next refresh fail with invalid_grant and the access token inactive', async () => {
    const auth = oauth.ClientSecretPost('post-secret');
    const tokens = await obtainTokens(postClient, auth);
    expect(await server.introspect(tokens.access_token)).toBe(true);

    expect(await server.revokeGrantsFor('post-client')).toBeGreaterThanOrEqual(1);
    expect(await server.introspect(tokens.access_token)).toBe(false);
    server.resetCounters();
    await expectOAuthError(refresh(postClient, auth, tokens.refresh_token!), 'invalid_grant');
    expect(server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(1);
  });

  it('introspection endpoint and resource server agree the fresh token is active', async () => {
    const auth = oauth.ClientSecretBasic('basic-secret');
    const tokens = await obtainTokens(basicClient, auth);
    const introspection = await oauth.processIntrospectionResponse(
      as,
      basicClient,
      await oauth.introspectionRequest(as, basicClient, auth, tokens.access_token, insecure),
    );
    expect(introspection.active).toBe(true);
    expect(introspection.client_id).toBe('basic-client');

    const ok = await fetch(resourceServer.url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true });

    const bad = await fetch(resourceServer.url, { headers: { authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(resourceServer.requests).toBeGreaterThanOrEqual(2);
  });

  it('supports a public client (PKCE, no secret) and client_credentials', async () => {
    const tokens = await obtainTokens(publicClient, oauth.None());
    expect(tokens.refresh_token).toBeTruthy();

    server.resetCounters();
    const cc = await oauth.processClientCredentialsResponse(
      as,
      basicClient,
      await oauth.clientCredentialsGrantRequest(as, basicClient, oauth.ClientSecretBasic('basic-secret'), {}, insecure),
    );
    expect(cc.access_token).toBeTruthy();
    expect(cc.refresh_token).toBeUndefined();
    expect(server.grantCount('client_credentials')).toBe(1);
    expect(await server.introspect(cc.access_token)).toBe(true);
  });

  it('completes consent in headless Chromium and loads the redirect URI page', async () => {
    const { url, state, codeVerifier } = await authorize(basicClient);
    const result = await completeConsentInChromium(url, { login: 'bob' });
    expect(result.status).toBe(200);
    expect(result.pageText).toBe('done');
    const finalUrl = new URL(result.finalUrl);
    expect(`${finalUrl.origin}${finalUrl.pathname}`).toBe(callback.url);
    expect(finalUrl.searchParams.get('iss')).toBe(server.issuer);
    const params = oauth.validateAuthResponse(as, basicClient, finalUrl, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      basicClient,
      await oauth.authorizationCodeGrantRequest(as, basicClient, oauth.ClientSecretBasic('basic-secret'), params, callback.url, codeVerifier, insecure),
    );
    expect(tokens.refresh_token).toBeTruthy();
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    expect(claims?.sub).toBe('bob');
  });
});

describe('oidc test harness options', () => {
  it('issues JWT access tokens for the default resource, with a short TTL and no rotation', async () => {
    const callback = await startCallbackServer();
    const server = await startOidcServer({
      clients: [{ clientId: 'c', clientSecret: 's', authMethod: 'client_secret_basic', redirectUris: [callback.url] }],
      jwtAccessTokens: true,
      accessTokenTtlSeconds: 120,
      rotateRefreshToken: false,
    });
    try {
      const as = await oauth.processDiscoveryResponse(
        new URL(server.issuer),
        await oauth.discoveryRequest(new URL(server.issuer), { algorithm: 'oidc', ...insecure }),
      );
      const client: oauth.Client = { client_id: 'c' };
      const auth = oauth.ClientSecretBasic('s');
      const verifier = oauth.generateRandomCodeVerifier();
      const url = new URL(as.authorization_endpoint!);
      url.search = new URLSearchParams({
        client_id: 'c',
        redirect_uri: callback.url,
        response_type: 'code',
        scope: 'openid offline_access api.read',
        prompt: 'consent',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }).toString();
      const redirect = await completeConsentProgrammatically(url.toString());
      const params = oauth.validateAuthResponse(as, client, new URL(redirect), oauth.expectNoState);
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, auth, params, callback.url, verifier, insecure),
      );
      expect(tokens.expires_in).toBe(120);
      expect(tokens.access_token.split('.')).toHaveLength(3);
      const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(payload).toMatchObject({ iss: server.issuer, aud: server.resource, client_id: 'c' });
      expect(String(payload.scope).split(' ')).toContain('api.read');
      expect(await server.introspect(tokens.access_token)).toBe(true);
      expect(await server.introspect(`${tokens.access_token.slice(0, -2)}xx`)).toBe(false);

      const refreshed = await oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure),
      );
      expect(refreshed.refresh_token ?? tokens.refresh_token).toBe(tokens.refresh_token);
    } finally {
      await server.close();
      await callback.close();
    }
  });
});
