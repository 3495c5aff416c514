/**
 * The core flow through the real Lambda handlers: PUT profile → authorize-url → consent at a real
 * oidc-provider → GET /callback → profile "ready" → GET token, on dynalite and the fake Secrets Manager,
 * with the real Powertools logger captured to prove no secret is ever logged.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { completeConsentAndFollow, completeConsentInChromium, completeConsentProgrammatically } from '../../support/consent.js';
import { events, header, jsonBody } from '../../support/api-events.js';
import type { ProfileView } from '../../../lib/profile.js';
import {
  SCOPE,
  expectCallbackPageHeaders,
  expectFreeOfSecrets,
  env,
  logs,
  useFlowEnvironment,
  type AuthMethod,
  type ConfigStyle,
} from './fixture.js';

useFlowEnvironment();

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** The structured log entries with this message (Powertools JSON lines). */
function logged(message: string, profileId: string): Array<Record<string, unknown>> {
  return logs.entries().filter((entry) => entry['message'] === message && entry['profileId'] === profileId);
}

/** After a completed flow: the profile is ready, and the token route serves an active access token. */
async function expectReadyAndServingTokens(id: string, startedAt: number) {
  const profile = await env.handlers.profiles(events.getProfile(id));
  expect(profile.statusCode).toBe(200);
  const view = jsonBody<ProfileView>(profile);
  expect(view.status.state).toBe('ready');
  expect(view.status.hasRefreshToken).toBe(true);
  expect(view.status.lastError).toBeNull();
  expect(view.status.consecutiveFailures).toBe(0);
  expect(view.status.lastAuthorizedAt).not.toBeNull();
  expect(Date.parse(view.status.lastAuthorizedAt!)).toBeGreaterThanOrEqual(startedAt - 1000);
  expect(Date.parse(view.status.lastAuthorizedAt!)).toBeLessThanOrEqual(Date.now() + 1000);
  expect(Date.parse(view.status.accessTokenExpiresAt!)).toBeGreaterThan(Date.now() + 3000 * 1000);
  expect(profile.body).not.toContain('clientSecret');

  const token = await env.handlers.token(events.token(id));
  expect(token.statusCode, token.body).toBe(200);
  expect(header(token, 'Cache-Control')).toBe('no-store');
  expect(header(token, 'Content-Type')).toMatch(/^application\/json/);
  const body = jsonBody(token);
  expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_at', 'expires_in', 'scope', 'token_type']);
  expect(body).not.toHaveProperty('refresh_token');
  expect(body).not.toHaveProperty('id_token');
  expect(body['token_type']).toBe('Bearer');
  expect(body['expires_in']).toBeGreaterThan(3500);
  expect(body['expires_in']).toBeLessThanOrEqual(3600);
  expect(String(body['scope']).split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access']));
  const accessToken = body['access_token'] as string;
  expect(await env.server.introspect(accessToken)).toBe(true);

  // The vault holds the same token set, with the refresh token the route never shows.
  const stored = env.storedTokenSet(id);
  expect(stored?.accessToken).toBe(accessToken);
  expect(stored?.refreshToken).toBeTruthy();
  expect(await env.server.refreshTokenActive(stored!.refreshToken!)).toBe(true);
  expect(token.body).not.toContain(stored!.refreshToken!);
  return { accessToken, refreshToken: stored!.refreshToken! };
}

describe('the authorization-code flow through the Lambda handlers', () => {
  const variants: Array<{ method: AuthMethod; style: ConfigStyle }> = [
    { method: 'client_secret_basic', style: 'issuer' },
    { method: 'client_secret_basic', style: 'endpoints' },
    { method: 'client_secret_post', style: 'issuer' },
    { method: 'client_secret_post', style: 'endpoints' },
  ];

  it.each(variants)('with $method, configured by $style: profile → consent → callback → ready → token', async ({ method, style }) => {
    // Prepare
    const startedAt = Date.now();
    const id = env.newProfileId(`flow-${style}`);
    const clientSecret = env.clients[method].clientSecret;
    const body = env.profileBody(method, style);

    // Act: register the profile
    const put = await env.handlers.profiles(events.putProfile(id, body));

    // Assess: 201 with the view; the secret is write-only
    expect(put.statusCode, put.body).toBe(201);
    expect(put.body).not.toContain(clientSecret);
    const created = jsonBody<ProfileView>(put);
    expect(created).toMatchObject({
      id,
      grantType: 'authorization_code',
      clientId: env.clients[method].clientId,
      clientAuthMethod: method,
      hasClientSecret: true,
      scope: SCOPE,
      usePkce: true,
      callbackUrl: env.callbackUrl,
      issuer: style === 'issuer' ? env.server.issuer : null,
      authorizationUrl: style === 'issuer' ? null : env.server.authorizationEndpoint,
      tokenUrl: style === 'issuer' ? null : env.server.tokenEndpoint,
      status: { state: 'authorization_required', hasRefreshToken: false, lastAuthorizedAt: null },
    });
    expect(created).not.toHaveProperty('clientSecret');

    // Act: the "Copy Authorization URL"
    const { authorizationUrl, state, codeVerifier, expiresAt } = await env.startAuthorization(id);

    // Assess: a PKCE S256 request at the server's endpoint, with the profile's scope and params
    const url = new URL(authorizationUrl);
    expect(`${url.origin}${url.pathname}`).toBe(env.server.authorizationEndpoint);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: env.clients[method].clientId,
      redirect_uri: env.callbackUrl,
      response_type: 'code',
      scope: SCOPE,
      prompt: 'consent',
      code_challenge_method: 'S256',
      code_challenge: s256(codeVerifier),
    });
    expect(Buffer.from(state, 'base64url').length).toBeGreaterThanOrEqual(16); // ≥ 128 bits
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(9 * 60 * 1000);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(10 * 60 * 1000);

    // Act: consent, and follow the redirect to the callback (through the loopback "API Gateway")
    const { redirectUrl, response } = await completeConsentAndFollow(authorizationUrl);

    // Assess: the server sent code, state and iss; the callback page names the profile
    const redirect = new URL(redirectUrl);
    const code = redirect.searchParams.get('code');
    expect(code).toBeTruthy();
    expect(redirect.searchParams.get('state')).toBe(state);
    expect(redirect.searchParams.get('iss')).toBe(env.server.issuer);
    const page = await response.text();
    expect(response.status, page).toBe(200);
    expectCallbackPageHeaders(response.headers);
    expect(page).toContain(`Profile &quot;${id}&quot; is authorized`);
    expectFreeOfSecrets(page, { clientSecret, code, state, codeVerifier }, 'the callback page');
    expect(env.server.grantCount('authorization_code')).toBe(1);
    expect(env.server.tokenRequests[0]).toMatchObject({ status: 200, injected: false, clientId: env.clients[method].clientId });
    expect(await env.pendingItem(state)).toBeUndefined(); // consumed

    // Act + Assess: the profile is ready and the token route serves an active token
    const { accessToken, refreshToken } = await expectReadyAndServingTokens(id, startedAt);

    // Assess: the logs said what happened, and none of the secrets
    expect(logged('profile authorized', id)).toHaveLength(1);
    expect(logged('authorization started', id)).toHaveLength(1);
    expectFreeOfSecrets(logs.text(), { clientSecret, code, state, codeVerifier, accessToken, refreshToken });
  });

  it('completes with consent in headless Chromium, which shows the success page', async () => {
    // Prepare
    const startedAt = Date.now();
    const id = env.newProfileId('chromium');
    const clientSecret = env.clients.client_secret_basic.clientSecret;
    await env.createProfile(id, env.profileBody('client_secret_basic', 'issuer'));
    const { authorizationUrl, state, codeVerifier } = await env.startAuthorization(id);

    // Act
    const result = await completeConsentInChromium(authorizationUrl, { login: 'chromium-user' });

    // Assess
    const finalUrl = new URL(result.finalUrl);
    expect(`${finalUrl.origin}${finalUrl.pathname}`).toBe(env.callbackUrl);
    expect(result.status).toBe(200);
    expect(result.pageText).toContain(`Profile "${id}" is authorized`);
    expect(result.pageText).toContain('The broker now holds a token for this profile');
    const code = finalUrl.searchParams.get('code');
    expect(code).toBeTruthy();
    expectFreeOfSecrets(result.pageText, { clientSecret, code, state, codeVerifier }, 'the page text');
    expect(env.server.grantCount('authorization_code')).toBe(1);
    const { accessToken, refreshToken } = await expectReadyAndServingTokens(id, startedAt);
    expect(logged('profile authorized', id)).toHaveLength(1);
    expectFreeOfSecrets(logs.text(), { clientSecret, code, state, codeVerifier, accessToken, refreshToken });
  });

  it('two concurrent callbacks with the same code and state make exactly one code exchange', async () => {
    // Prepare: a real authorization response, not yet delivered
    const startedAt = Date.now();
    const id = env.newProfileId('race');
    const clientSecret = env.clients.client_secret_post.clientSecret;
    await env.createProfile(id, env.profileBody('client_secret_post', 'issuer'));
    const { authorizationUrl, state, codeVerifier } = await env.startAuthorization(id);
    const redirectUrl = await completeConsentProgrammatically(authorizationUrl);
    const code = new URL(redirectUrl).searchParams.get('code');

    // Act: deliver it twice at once
    const results = await Promise.all([
      env.handlers.callback(events.callback(redirectUrl)),
      env.handlers.callback(events.callback(redirectUrl)),
    ]);

    // Assess: one exchange at the server, one success page, one error page
    expect(env.server.grantCount('authorization_code')).toBe(1);
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 400]);
    const ok = results.find((r) => r.statusCode === 200)!;
    const refused = results.find((r) => r.statusCode === 400)!;
    expect(ok.body).toContain(`Profile &quot;${id}&quot; is authorized`);
    expect(refused.body).toContain('Authorization failed');
    expect(refused.body).toMatch(/already completed/);
    for (const r of results) {
      expectCallbackPageHeaders(r.headers);
      expectFreeOfSecrets(r.body, { clientSecret, code, state, codeVerifier }, 'a callback page');
    }
    const { accessToken, refreshToken } = await expectReadyAndServingTokens(id, startedAt);
    expect(logged('profile authorized', id)).toHaveLength(1);
    expectFreeOfSecrets(logs.text(), { clientSecret, code, state, codeVerifier, accessToken, refreshToken });
  });
});
