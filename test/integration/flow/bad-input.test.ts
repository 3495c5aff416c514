/**
 * Bad input against the real Lambda handlers: each case asserts the contract's status (an HTML page for
 * the callback, the JSON error code for the JSON routes) AND that nothing stored changed: the whole
 * dynalite table and the whole fake Secrets Manager are snapshotted before and compared after.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { AUTHORIZATION_TTL_SECONDS } from '../../../lib/broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { events, header, jsonBody } from '../../support/api-events.js';
import { completeConsentAndFollow, completeConsentProgrammatically } from '../../support/consent.js';
import type { CannedTokenResponse } from '../../support/oidc-server.js';
import {
  expectCallbackPageHeaders,
  expectFreeOfSecrets,
  env,
  logs,
  useFlowEnvironment,
  type StoredState,
} from './fixture.js';

useFlowEnvironment();

async function expectNothingStoredChanged(before: StoredState): Promise<void> {
  const after = await env.snapshot();
  expect(after.table).toEqual(before.table);
  expect(after.secrets).toEqual(before.secrets);
}

/** An error page of the callback: the status, the headers, and the reason in the text. */
function expectErrorPage(result: APIGatewayProxyResult, status: number, reason: RegExp): void {
  expect(result.statusCode, result.body).toBe(status);
  expectCallbackPageHeaders(result.headers);
  expect(result.body).toMatch(/^<!doctype html>/);
  expect(result.body).toContain('Authorization failed');
  expect(result.body).toMatch(reason);
}

function expectJsonError(result: APIGatewayProxyResult, status: number, code: string): { error: string; message: string } {
  expect(result.statusCode, result.body).toBe(status);
  expect(header(result, 'Content-Type')).toMatch(/^application\/json/);
  const body = jsonBody<{ error: string; message: string }>(result);
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(code);
  expect(body.message).toMatch(/\S/);
  return body;
}

/** A fresh authorization-code profile on the real server, with a pending authorization. */
async function pendingAuthorization(style: 'issuer' | 'endpoints' = 'issuer') {
  const id = env.newProfileId(`bad-${style}`);
  await env.createProfile(id, env.profileBody('client_secret_basic', style));
  const started = await env.startAuthorization(id);
  return { id, clientSecret: env.clients.client_secret_basic.clientSecret, ...started };
}

/**
 * docs/api.md: a callback whose state matched uses that state up, whatever it carries, and records why it
 * failed as the profile's `status.lastError`. Nothing else stored changes.
 */
async function expectStateSpentAndErrorRecorded(before: StoredState, state: string, id: string, code: unknown): Promise<void> {
  const after = await env.snapshot();
  const pending = stateItemOf(before, state);
  expect(pending, 'the pending authorization existed').toBeDefined();
  expect(stateItemOf(after, state), 'the pending authorization is used up').toBeUndefined();
  const profileKey = `PROFILE#${id}`;
  const withoutLastError = (item: Record<string, unknown>) =>
    item['pk'] === profileKey
      ? { ...item, status: { ...(item['status'] as Record<string, unknown>), lastError: null }, updatedAt: null, revision: null }
      : item;
  expect(after.table.map(withoutLastError)).toEqual(before.table.filter((item) => item !== pending).map(withoutLastError));
  const profile = after.table.find((item) => item['pk'] === profileKey);
  expect((profile?.['status'] as { lastError: unknown }).lastError).toEqual({ code, message: expect.any(String), at: expect.any(String) });
  expect(after.secrets).toEqual(before.secrets);
}

/** The pending-authorization item of `state` in a snapshot (keyed, like the adapter, by the state's SHA-256). */
function stateItemOf(before: StoredState, state: string): Record<string, unknown> | undefined {
  const pk = `STATE#${createHash('sha256').update(state, 'utf8').digest('hex')}`;
  return before.table.find((item) => item['pk'] === pk && item['sk'] === 'STATE');
}

describe('GET /callback with bad input answers an HTML error page; a matched state is used up and the reason recorded', () => {
  it('unknown state → 400', async () => {
    // Prepare
    await pendingAuthorization(); // something in the table besides the profile
    const state = randomBytes(32).toString('base64url');
    const code = randomBytes(32).toString('base64url');
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.callback(events.callback(new URLSearchParams({ code, state, iss: env.server.issuer })));

    // Assess
    expectErrorPage(result, 400, /unknown or was already completed/);
    expectFreeOfSecrets(result.body, { code, state }, 'the page');
    await expectNothingStoredChanged(before);
    expect(env.server.grantCount('authorization_code')).toBe(0);
    expectFreeOfSecrets(logs.text(), { code, state });
  });

  it('expired state still present in the table → 400', async () => {
    // Prepare: a real authorization response, delivered after the 10 minutes (the broker's clock moves)
    const { id, state, codeVerifier, clientSecret, authorizationUrl } = await pendingAuthorization();
    const redirectUrl = await completeConsentProgrammatically(authorizationUrl);
    const code = new URL(redirectUrl).searchParams.get('code');
    env.clock.offsetMs = AUTHORIZATION_TTL_SECONDS * 1000 + 1000;
    const before = await env.snapshot();
    expect(stateItemOf(before, state)).toBeDefined(); // still in the table: only its expiresAt says no

    // Act
    const result = await env.handlers.callback(events.callback(redirectUrl));

    // Assess
    expectErrorPage(result, 400, /expired/);
    await expectStateSpentAndErrorRecorded(before, state, id, 'state_expired');
    expect(env.server.grantCount('authorization_code')).toBe(0);
    expectFreeOfSecrets(result.body, { code, state, codeVerifier, clientSecret }, 'the page');
    expectFreeOfSecrets(logs.text(), { code, state, codeVerifier, clientSecret });
  });

  it('replayed state (the same redirect again after a success) → 400', async () => {
    // Prepare: a completed authorization
    const { id, state, codeVerifier, clientSecret, authorizationUrl } = await pendingAuthorization();
    const { redirectUrl, response } = await completeConsentAndFollow(authorizationUrl);
    expect(response.status, await response.text()).toBe(200);
    const code = new URL(redirectUrl).searchParams.get('code');
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.callback(events.callback(redirectUrl));

    // Assess
    expectErrorPage(result, 400, /unknown or was already completed/);
    await expectNothingStoredChanged(before);
    expect(env.server.grantCount('authorization_code')).toBe(1);
    const view = jsonBody<ProfileView>(await env.handlers.profiles(events.getProfile(id)));
    expect(view.status.state).toBe('ready');
    const tokens = env.storedTokenSet(id);
    expectFreeOfSecrets(logs.text(), {
      code,
      state,
      codeVerifier,
      clientSecret,
      accessToken: tokens?.accessToken,
      refreshToken: tokens?.refreshToken,
    });
  });

  it('callback without code (valid state) → 400', async () => {
    // Prepare
    const { id, state, codeVerifier } = await pendingAuthorization();
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.callback(events.callback(new URLSearchParams({ state, iss: env.server.issuer })));

    // Assess
    expectErrorPage(result, 400, /no authorization code/);
    await expectStateSpentAndErrorRecorded(before, state, id, 'missing_code');
    expect(env.server.grantCount('authorization_code')).toBe(0);
    expectFreeOfSecrets(logs.text(), { state, codeVerifier });
  });

  it('error=access_denied with HTML in error_description → 400, the description shown escaped', async () => {
    // Prepare: a real denial from the server, with a hostile description
    const { id, state, codeVerifier, authorizationUrl } = await pendingAuthorization();
    const denied = new URL(await completeConsentProgrammatically(authorizationUrl, { deny: true }));
    expect(denied.searchParams.get('error')).toBe('access_denied');
    denied.searchParams.set('error_description', '<script>alert(1)</script>');
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.callback(events.callback(denied));

    // Assess
    expectErrorPage(result, 400, /access was denied/);
    expect(result.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(result.body).not.toContain('<script>alert');
    expect(result.body).not.toMatch(/<script/i);
    await expectStateSpentAndErrorRecorded(before, state, id, 'access_denied');
    expect(env.server.grantCount('authorization_code')).toBe(0);
    expectFreeOfSecrets(logs.text(), { state, codeVerifier });
  });

  it('iss mismatch on an issuer-configured profile → 400', async () => {
    // Prepare: a real authorization response whose iss is changed
    const { id, state, codeVerifier, clientSecret, authorizationUrl } = await pendingAuthorization('issuer');
    const redirect = new URL(await completeConsentProgrammatically(authorizationUrl));
    const code = redirect.searchParams.get('code');
    expect(redirect.searchParams.get('iss')).toBe(env.server.issuer);
    redirect.searchParams.set('iss', 'https://attacker.example');
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.callback(events.callback(redirect));

    // Assess
    expectErrorPage(result, 400, /&quot;iss&quot;/);
    await expectStateSpentAndErrorRecorded(before, state, id, 'iss_mismatch');
    expect(env.server.grantCount('authorization_code')).toBe(0);
    expectFreeOfSecrets(result.body, { code, state }, 'the page');
    expectFreeOfSecrets(logs.text(), { code, state, codeVerifier, clientSecret });
  });

  const refusedExchanges: Array<{ name: string; response: CannedTokenResponse; accessToken?: string }> = [
    { name: 'non-JSON', response: { status: 200, body: '<html><body>token service</body></html>' } },
    { name: '200 with {"error":"invalid_grant"}', response: { status: 200, body: '{"error":"invalid_grant"}' } },
    { name: '200 without access_token', response: { status: 200, body: JSON.stringify({ token_type: 'Bearer', expires_in: 3600 }) } },
    {
      name: 'token_type "mac"',
      accessToken: 'mac-access-token-0123456789',
      response: { status: 200, body: JSON.stringify({ access_token: 'mac-access-token-0123456789', token_type: 'mac', expires_in: 3600 }) },
    },
  ];

  it.each(refusedExchanges)('token endpoint answering $name → 400, profile and secrets unchanged', async ({ response, accessToken }) => {
    // Prepare: a real authorization response; the token endpoint's next answer is canned
    const { id, state, codeVerifier, clientSecret, authorizationUrl } = await pendingAuthorization('issuer');
    const redirectUrl = await completeConsentProgrammatically(authorizationUrl);
    const code = new URL(redirectUrl).searchParams.get('code');
    env.server.failTokenEndpoint([response]);
    const before = await env.snapshot();
    const pending = stateItemOf(before, state);
    expect(pending).toBeDefined();

    // Act
    const result = await env.handlers.callback(events.callback(redirectUrl));

    // Assess: the exchange was attempted once and refused
    expectErrorPage(result, 400, /did not issue tokens/);
    expect(env.server.pendingFailures()).toBe(0);
    expect(env.server.tokenRequests).toHaveLength(1);
    expect(env.server.tokenRequests[0]).toMatchObject({ grantType: 'authorization_code', injected: true });
    // The pending authorization is consumed (single use) whatever the answer, and the profile records
    // why; everything else (every other item, every secret) is exactly as before.
    await expectStateSpentAndErrorRecorded(before, state, id, expect.any(String));
    const token = await env.handlers.token(events.token(id));
    expectJsonError(token, 409, 'authorization_required');
    expectFreeOfSecrets(result.body, { code, state, codeVerifier, clientSecret, accessToken }, 'the page');
    expectFreeOfSecrets(logs.text(), { code, state, codeVerifier, clientSecret, accessToken });
    expect(logs.entries().some((e) => e['message'] === 'code exchange failed' && e['profileId'] === id)).toBe(true);
  });
});

describe('JSON routes with bad input answer the contract error and change nothing', () => {
  it('GET /profiles/{id}/token for an unknown profile → 404 not_found', async () => {
    // Prepare
    await pendingAuthorization();
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.token(events.token('no-such-profile'));

    // Assess
    expectJsonError(result, 404, 'not_found');
    await expectNothingStoredChanged(before);
  });

  it('GET /profiles/{id}/authorize-url for a client_credentials profile → 409 conflict', async () => {
    // Prepare
    const id = env.newProfileId('cc');
    await env.createProfile(id, {
      grantType: 'client_credentials',
      tokenUrl: env.server.tokenEndpoint,
      clientId: env.clients.client_secret_basic.clientId,
      clientSecret: env.clients.client_secret_basic.clientSecret,
    });
    const before = await env.snapshot();

    // Act
    const result = await env.handlers.authorizeUrl(events.authorizeUrl(id));

    // Assess
    expectJsonError(result, 409, 'conflict');
    await expectNothingStoredChanged(before); // no pending authorization was written
  });

  const NEW_SECRET = `must-not-be-stored-${randomBytes(8).toString('hex')}`;
  const valid = (): Record<string, unknown> => ({
    authorizationUrl: env.server.authorizationEndpoint,
    tokenUrl: env.server.tokenEndpoint,
    clientId: 'another-client',
    clientSecret: NEW_SECRET,
    scope: 'openid offline_access',
  });
  const badBodies: Array<{ name: string; body: () => string }> = [
    { name: 'a malformed URL', body: () => JSON.stringify({ ...valid(), tokenUrl: 'not a url' }) },
    { name: 'an http: non-loopback URL', body: () => JSON.stringify({ ...valid(), authorizationUrl: 'http://as.example.com/authorize' }) },
    { name: 'an unknown grantType', body: () => JSON.stringify({ ...valid(), grantType: 'password' }) },
    {
      name: 'a reserved authorizationParams key',
      body: () => JSON.stringify({ ...valid(), authorizationParams: { prompt: 'consent', redirect_uri: 'https://evil.example/cb' } }),
    },
    {
      name: 'a body over 16 KiB (otherwise valid)',
      body: () => {
        const params = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`p${i}`, 'x'.repeat(2000)]));
        const text = JSON.stringify({ ...valid(), authorizationParams: params });
        expect(Buffer.byteLength(text)).toBeGreaterThan(16 * 1024);
        return text;
      },
    },
  ];

  it.each(badBodies)('PUT /profiles/{id} with $name → 400 invalid_request, on create and on replace', async ({ body }) => {
    // Prepare: an existing profile to replace, and an id that does not exist
    const existing = env.newProfileId('existing');
    await env.createProfile(existing, env.profileBody('client_secret_basic', 'endpoints'));
    const fresh = env.newProfileId('fresh');
    const before = await env.snapshot();

    // Act
    const replace = await env.handlers.profiles(events.putProfile(existing, body()));
    const create = await env.handlers.profiles(events.putProfile(fresh, body()));

    // Assess
    for (const result of [replace, create]) {
      const error = expectJsonError(result, 400, 'invalid_request');
      expect(error.message).not.toContain(NEW_SECRET);
    }
    await expectNothingStoredChanged(before);
    expect(JSON.stringify(before.secrets)).not.toContain(NEW_SECRET);
    expectFreeOfSecrets(logs.text(), { clientSecret: NEW_SECRET });
  });

  it.each(['Bad-Id', 'has space', '-leading-dash', 'x'.repeat(65), 'dot.ted'])(
    'PUT /profiles/{id} with the bad id %j → 400 invalid_request',
    async (id) => {
      // Prepare
      const before = await env.snapshot();

      // Act
      const result = await env.handlers.profiles(events.putProfile(id, valid()));

      // Assess
      expectJsonError(result, 400, 'invalid_request');
      await expectNothingStoredChanged(before);
      expectFreeOfSecrets(logs.text(), { clientSecret: NEW_SECRET });
    },
  );
});
