import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../../lambdas/authorize-url.js';
import type { Broker } from '../../../lib/broker.js';
import { apiEvent } from '../support/events.js';
import {
  CALLBACK_URL,
  CLIENT_SECRET,
  START,
  TestClock,
  brokerOn,
  captureLogger,
  profileBody,
  scriptedTokenEndpoint,
  stateOf,
  useAwsMocks,
  type CapturedLog,
  type ScriptedTokenEndpoint,
} from '../support/harness.js';

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
  broker = brokerOn(aws, { logger: log.logger, clock, fetch: endpoint.fetch });
  handler = createHandler(() => broker, log.logger);
});

const authorizeUrlEvent = (id: string) => apiEvent({ method: 'GET', resource: '/profiles/{id}/authorize-url', pathParameters: { id } });
const stateItem = (state: string) => aws.table.get(`STATE#${createHash('sha256').update(state).digest('hex')}`, 'STATE');

describe('GET /profiles/{id}/authorize-url', () => {
  it('answers the authorization URL, the callback URL and the expiry, and stores the pending authorization', async () => {
    // Prepare
    await broker.putProfile('erp', JSON.stringify(profileBody({ authorizationParams: { prompt: 'consent' } })));
    aws.resetHistory();

    // Act
    const response = await handler(authorizeUrlEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['Cache-Control']).toBe('no-store');
    const body = JSON.parse(response.body) as { authorizationUrl: string; callbackUrl: string; expiresAt: string };
    expect(body.callbackUrl).toBe(CALLBACK_URL);
    expect(body.expiresAt).toBe(new Date(START + 600_000).toISOString());
    const url = new URL(body.authorizationUrl);
    expect(url.origin + url.pathname).toBe('https://as.example/authorize');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'mes-client',
      redirect_uri: CALLBACK_URL,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge_method: 'S256',
    });
    const state = stateOf(body.authorizationUrl);
    expect(state.length).toBeGreaterThanOrEqual(22);
    const item = stateItem(state);
    expect(item).toMatchObject({ profileId: 'erp', redirectUri: CALLBACK_URL, expiresAt: body.expiresAt });
    const verifier = item?.['codeVerifier'] as string;
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(url.searchParams.get('code_challenge'));
    expect(JSON.stringify([...aws.table.items.values()])).not.toContain(state);
    expect(response.body).not.toContain(CLIENT_SECRET);
    expect(aws.sm.mock.calls()).toHaveLength(0);
  });

  it('starts a new pending authorization on every call', async () => {
    // Prepare
    await broker.putProfile('erp', JSON.stringify(profileBody()));

    // Act
    const first = JSON.parse((await handler(authorizeUrlEvent('erp'))).body).authorizationUrl as string;
    const second = JSON.parse((await handler(authorizeUrlEvent('erp'))).body).authorizationUrl as string;

    // Assess
    expect(stateOf(first)).not.toBe(stateOf(second));
    expect(new URL(first).searchParams.get('code_challenge')).not.toBe(new URL(second).searchParams.get('code_challenge'));
    expect(stateItem(stateOf(first))).toBeDefined();
    expect(stateItem(stateOf(second))).toBeDefined();
  });

  it('sends no PKCE challenge for a profile with usePkce false', async () => {
    // Prepare
    await broker.putProfile('erp', JSON.stringify(profileBody({ usePkce: false })));

    // Act
    const response = await handler(authorizeUrlEvent('erp'));

    // Assess
    const url = new URL(JSON.parse(response.body).authorizationUrl as string);
    expect(url.searchParams.has('code_challenge')).toBe(false);
    expect(stateItem(stateOf(url.href))?.['codeVerifier']).toBeNull();
  });

  it('answers 409 conflict for a client_credentials profile and stores nothing', async () => {
    // Prepare
    await broker.putProfile('machine', JSON.stringify(profileBody({ grantType: 'client_credentials', authorizationUrl: undefined })));
    aws.resetHistory();

    // Act
    const response = await handler(authorizeUrlEvent('machine'));

    // Assess
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body)).toEqual({ error: 'conflict', message: expect.stringContaining('client_credentials') });
    expect(aws.writes()).toBe(0);
  });

  it('answers 404 not_found for an unknown profile', async () => {
    // Act
    const response = await handler(authorizeUrlEvent('nope'));

    // Assess
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body).error).toBe('not_found');
    expect(aws.writes()).toBe(0);
  });

  it('answers 400 invalid_request for a bad id without calling AWS', async () => {
    // Act
    const response = await handler(authorizeUrlEvent('Bad Id'));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
    expect(aws.awsCalls()).toBe(0);
  });

  it('answers 503 with Retry-After when the issuer cannot be discovered, and stores nothing', async () => {
    // Prepare
    await broker.putProfile('erp', JSON.stringify({ issuer: 'https://as.example', clientId: 'mes-client', clientSecret: CLIENT_SECRET }));
    endpoint.answer(() => new Response('down', { status: 502 }));
    aws.resetHistory();

    // Act
    const response = await handler(authorizeUrlEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body).error).toBe('temporarily_unavailable');
    expect(Number(response.headers?.['Retry-After'])).toBeGreaterThan(0);
    expect(aws.writes()).toBe(0);
    expect(endpoint.requests.length).toBeGreaterThan(0);
  });

  it('uses the discovered authorization endpoint when only the issuer is set', async () => {
    // Prepare
    await broker.putProfile('erp', JSON.stringify({ issuer: 'https://as.example', clientId: 'mes-client', clientSecret: CLIENT_SECRET }));
    endpoint.answer(
      () =>
        new Response(
          JSON.stringify({
            issuer: 'https://as.example',
            authorization_endpoint: 'https://as.example/oauth2/auth',
            token_endpoint: 'https://as.example/oauth2/token',
          }),
          { status: 200, headers: { 'content-type': 'application/json' } },
        ),
    );

    // Act
    const response = await handler(authorizeUrlEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).authorizationUrl).toMatch(/^https:\/\/as\.example\/oauth2\/auth\?/);
    expect(endpoint.requests[0]?.url).toBe('https://as.example/.well-known/openid-configuration');
  });
});
