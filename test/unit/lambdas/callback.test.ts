import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { createHandler } from '../../../lambdas/callback.js';
import type { Broker } from '../../../lib/broker.js';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { apiEvent } from '../support/events.js';
import {
  CALLBACK_URL,
  CLIENT_SECRET,
  SECRET_PREFIX,
  TestClock,
  brokerOn,
  captureLogger,
  jsonResponse,
  profileBody,
  scriptedTokenEndpoint,
  stateOf,
  useAwsMocks,
  type CapturedLog,
  type ScriptedTokenEndpoint,
} from '../support/harness.js';

const CODE = 'ac-5e6f-authorization-code';
const ACCESS_TOKEN = 'at-callback-access-token-42';
const REFRESH_TOKEN = 'rt-callback-refresh-token-42';

const aws = useAwsMocks();
let log: CapturedLog;
let clock: TestClock;
let endpoint: ScriptedTokenEndpoint;
let broker: Broker;
let handler: ReturnType<typeof createHandler>;

beforeEach(() => {
  log = captureLogger();
  clock = new TestClock();
  endpoint = scriptedTokenEndpoint();
  endpoint.answer(() => jsonResponse({ access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600, refresh_token: REFRESH_TOKEN }));
  broker = brokerOn(aws, { logger: log.logger, clock, fetch: endpoint.fetch });
  handler = createHandler(() => broker, log.logger);
});

const callback = (query: Record<string, string>) => handler(apiEvent({ method: 'GET', resource: '/callback', query }));

/** A profile and one pending authorization for it; returns its state and PKCE verifier, with the call history cleared. */
async function pendingAuthorization(overrides: Record<string, unknown> = {}): Promise<{ state: string; verifier: string }> {
  await broker.putProfile('erp', JSON.stringify(profileBody(overrides)));
  const { authorizationUrl } = await broker.createAuthorizationUrl('erp');
  const state = stateOf(authorizationUrl);
  const item = aws.table.get(`STATE#${createHash('sha256').update(state).digest('hex')}`, 'STATE');
  aws.resetHistory();
  return { state, verifier: item?.['codeVerifier'] as string };
}

/** Everything stored, for "nothing changed" assertions. */
function snapshot(): string {
  return JSON.stringify({
    table: [...aws.table.items.entries()],
    secrets: [...aws.sm.secrets.entries()].map(([name, secret]) => [name, [...secret.versions.entries()]]),
  });
}

/**
 * docs/api.md: a callback whose state matched uses the state up, whatever it carries, and records why it
 * failed as `status.lastError`; nothing else stored changes and the token endpoint is not asked.
 */
function expectStateSpentAndErrorRecorded(before: string, state: string, code: string): void {
  const stateKey = `STATE#${createHash('sha256').update(state).digest('hex')}|STATE`;
  const parsed = (text: string) => JSON.parse(text) as { table: Array<[string, Record<string, unknown>]>; secrets: unknown };
  const normalize = (snap: ReturnType<typeof parsed>) => ({
    table: snap.table
      .filter(([key]) => key !== stateKey)
      .map(([key, item]) => [key, key === 'PROFILE#erp|PROFILE' ? { ...item, status: { ...(item['status'] as object), lastError: null }, updatedAt: null, revision: null } : item]),
    secrets: snap.secrets,
  });
  const earlier = parsed(before);
  const now = parsed(snapshot());
  expect(earlier.table.some(([key]) => key === stateKey), 'the state was pending').toBe(true);
  expect(now.table.some(([key]) => key === stateKey), 'the state is used up').toBe(false);
  expect(normalize(now)).toEqual(normalize(earlier));
  const profile = aws.table.get('PROFILE#erp', 'PROFILE');
  expect((profile?.['status'] as { lastError: unknown }).lastError).toEqual({ code, message: expect.any(String), at: new Date(clock.now).toISOString() });
  expect(aws.sm.calls('PutSecretValue') + aws.sm.calls('CreateSecret')).toBe(0);
}

function expectPageHeaders(response: APIGatewayProxyResult): void {
  const headers = response.headers ?? {};
  expect(headers['Content-Type']).toMatch(/^text\/html/);
  expect(headers['Cache-Control']).toBe('no-store');
  expect(headers['Referrer-Policy']).toBe('no-referrer');
  expect(String(headers['Content-Security-Policy'])).toMatch(/(^|;\s*)default-src 'none'/);
  expect(String(headers['Content-Security-Policy'])).not.toMatch(/script-src|unsafe-inline/);
  expect(response.body).toMatch(/^<!doctype html>/i);
}

describe('GET /callback', () => {
  it('exchanges the code, stores the tokens and answers a success page naming the profile', async () => {
    // Prepare
    const { state, verifier } = await pendingAuthorization();

    // Act
    const response = await callback({ code: CODE, state });

    // Assess
    expect(response.statusCode).toBe(200);
    expectPageHeaders(response);
    expect(response.body).toContain('erp');
    for (const secret of [CODE, state, verifier, ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET]) {
      expect(response.body).not.toContain(secret);
    }
    expect(endpoint.requests).toHaveLength(1);
    const exchange = endpoint.requests[0]!;
    expect(exchange.url).toBe('https://as.example/token');
    expect(Object.fromEntries(exchange.body)).toMatchObject({
      grant_type: 'authorization_code',
      code: CODE,
      code_verifier: verifier,
      redirect_uri: CALLBACK_URL,
    });
    // RFC 6749 §2.3.1: client_secret_basic, each part form-urlencoded.
    const [scheme, credentials] = (exchange.headers.get('authorization') ?? '').split(' ');
    expect(scheme).toBe('Basic');
    const [user, password] = Buffer.from(credentials ?? '', 'base64').toString('utf8').split(':').map(decodeURIComponent);
    expect([user, password]).toEqual(['mes-client', CLIENT_SECRET]);
    expect(exchange.body.has('client_secret')).toBe(false);
    const view = await broker.getProfile('erp');
    expect(view.status).toMatchObject({ state: 'ready', hasRefreshToken: true, accessTokenExpiresAt: new Date(clock.now + 3600_000).toISOString() });
    expect(JSON.parse(aws.sm.currentValue(`${SECRET_PREFIX}/erp/token-set`) ?? '{}')).toMatchObject({
      accessToken: ACCESS_TOKEN,
      refreshToken: REFRESH_TOKEN,
    });
  });

  it('logs no client secret, code, state, verifier or token', async () => {
    // Prepare
    const { state, verifier } = await pendingAuthorization();

    // Act
    await callback({ code: CODE, state });
    await callback({ code: CODE, state });

    // Assess
    const logs = log.lines.join('\n');
    expect(log.lines.length).toBeGreaterThan(0);
    for (const secret of [CODE, state, verifier, ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET]) {
      expect(logs).not.toContain(secret);
    }
  });

  it('answers 400 to a replayed state and exchanges the code only once', async () => {
    // Prepare
    const { state } = await pendingAuthorization();
    await callback({ code: CODE, state });
    const before = snapshot();

    // Act
    const replay = await callback({ code: CODE, state });

    // Assess
    expect(replay.statusCode).toBe(400);
    expectPageHeaders(replay);
    expect(endpoint.requests).toHaveLength(1);
    expect(snapshot()).toBe(before);
  });

  it('answers 400 to an unknown state and changes nothing', async () => {
    // Prepare
    await pendingAuthorization();
    const before = snapshot();

    // Act
    const response = await callback({ code: CODE, state: 'unknown-state-value' });

    // Assess
    expect(response.statusCode).toBe(400);
    expectPageHeaders(response);
    expect(response.body).toMatch(/unknown|already/i);
    // One conditional delete tried to use the state up, and found none: nothing changed.
    expect(aws.ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input.ConditionExpression)).toEqual(['attribute_exists(#pk)']);
    expect(snapshot()).toBe(before);
    expect(endpoint.requests).toHaveLength(0);
  });

  it('answers 400 to an expired state still present in the table, uses it up and records why', async () => {
    // Prepare
    const { state } = await pendingAuthorization();
    clock.advance(601_000);
    const before = snapshot();

    // Act
    const response = await callback({ code: CODE, state });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).toMatch(/expired/i);
    expectStateSpentAndErrorRecorded(before, state, 'state_expired');
    expect(endpoint.requests).toHaveLength(0);
  });

  it('answers 400 to a callback without state', async () => {
    // Act
    const response = await callback({ code: CODE });

    // Assess
    expect(response.statusCode).toBe(400);
    expectPageHeaders(response);
    expect(aws.awsCalls()).toBe(0);
  });

  it('answers 400 to a callback without code, uses the state up and records why', async () => {
    // Prepare
    const { state } = await pendingAuthorization();
    const before = snapshot();

    // Act
    const response = await callback({ state });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).toMatch(/no authorization code/i);
    expectStateSpentAndErrorRecorded(before, state, 'missing_code');
  });

  it('shows error=access_denied with its HTML description escaped, uses the state up and records why', async () => {
    // Prepare
    const { state } = await pendingAuthorization();
    const before = snapshot();

    // Act
    const response = await callback({ error: 'access_denied', error_description: '<script>alert(1)</script>', state });

    // Assess
    expect(response.statusCode).toBe(400);
    expectPageHeaders(response);
    expect(response.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(response.body).not.toContain('<script>');
    expect(response.body).toMatch(/denied/i);
    expectStateSpentAndErrorRecorded(before, state, 'access_denied');
    expect(endpoint.requests).toHaveLength(0);
  });

  it('escapes HTML in every reflected parameter of a refused callback', async () => {
    // Prepare
    const { state } = await pendingAuthorization();

    // Act
    const response = await callback({ error: '<img src=x onerror=alert(1)>', error_description: '"><svg onload=alert(1)>', state });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toMatch(/<img|<svg/i);
  });

  it('answers 400 to an iss that is not the profile issuer, uses the state up and records why', async () => {
    // Prepare
    const { state } = await pendingAuthorization({ issuer: 'https://as.example', revocationUrl: 'https://as.example/revoke' });
    const before = snapshot();

    // Act
    const response = await callback({ code: CODE, state, iss: 'https://evil.example' });

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).toMatch(/iss/);
    expectStateSpentAndErrorRecorded(before, state, 'iss_mismatch');
    expect(endpoint.requests).toHaveLength(0);
  });

  it('accepts the iss of the profile issuer', async () => {
    // Prepare
    const { state } = await pendingAuthorization({ issuer: 'https://as.example', revocationUrl: 'https://as.example/revoke' });

    // Act
    const response = await callback({ code: CODE, state, iss: 'https://as.example' });

    // Assess
    expect(response.statusCode).toBe(200);
  });

  it.each<[string, () => Response, string]>([
    ['a non-JSON answer', () => new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } }), 'invalid_response'],
    ['a 200 with an OAuth error', () => jsonResponse({ error: 'invalid_grant', error_description: 'code expired' }), 'invalid_grant'],
    ['no access_token', () => jsonResponse({ token_type: 'Bearer', expires_in: 3600 }), 'invalid_response'],
    ['token_type mac', () => jsonResponse({ access_token: ACCESS_TOKEN, token_type: 'mac', expires_in: 3600 }), 'invalid_response'],
    ['400 invalid_grant', () => jsonResponse({ error: 'invalid_grant' }, 400), 'invalid_grant'],
  ])('answers 400 when the token endpoint gives %s, stores no token and records why', async (_, answer, code) => {
    // Prepare
    const { state } = await pendingAuthorization();
    endpoint.answer(answer);
    const before = snapshot();

    // Act
    const response = await callback({ code: CODE, state });

    // Assess
    expect(response.statusCode).toBe(400);
    expectPageHeaders(response);
    expect(response.body).toMatch(/did not issue tokens/);
    expect(response.body).not.toContain(ACCESS_TOKEN);
    expect(response.body).not.toContain(CODE);
    expectStateSpentAndErrorRecorded(before, state, code);
    expect(aws.sm.secrets.has(`${SECRET_PREFIX}/erp/token-set`)).toBe(false);
    expect(aws.sm.calls('PutSecretValue') + aws.sm.calls('CreateSecret')).toBe(0);
    expect((await broker.getProfile('erp')).status.state).toBe('authorization_required');
  });

  it('answers a 400 page (docs/api.md: 200 or 400, always HTML) without the error text when DynamoDB fails unexpectedly', async () => {
    // Prepare
    aws.ddb.on(DeleteCommand).rejects(new Error(`socket hang up ${CLIENT_SECRET}`));

    // Act
    const response = await callback({ code: CODE, state: 'some-state' });

    // Assess
    expect(response.statusCode).toBe(400);
    expectPageHeaders(response);
    expect(response.body).toContain('could not complete the authorization');
    expect(response.body).not.toContain(CLIENT_SECRET);
    expect(response.body).not.toContain('socket hang up');
    expect(log.lines.join('\n')).not.toContain(CLIENT_SECRET);
  });
});
