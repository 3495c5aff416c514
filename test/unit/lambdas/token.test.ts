import { beforeEach, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createHandler } from '../../../lambdas/token.js';
import type { Broker } from '../../../lib/broker.js';
import { apiEvent } from '../support/events.js';
import {
  CLIENT_SECRET,
  START,
  TestClock,
  authorize,
  brokerOn,
  captureLogger,
  jsonResponse,
  profileBody,
  scriptedTokenEndpoint,
  useAwsMocks,
  type CapturedLog,
  type ScriptedTokenEndpoint,
} from '../support/harness.js';

const ACCESS_TOKEN = 'at-1f2e3d-access-token';
const REFRESH_TOKEN = 'rt-9a8b7c-refresh-token';

const aws = useAwsMocks();
let log: CapturedLog;
let clock: TestClock;
let endpoint: ScriptedTokenEndpoint;
/** The "admin" broker that seeds profiles and tokens. */
let seeder: Broker;

beforeEach(() => {
  log = captureLogger();
  clock = new TestClock();
  endpoint = scriptedTokenEndpoint();
  seeder = brokerOn(aws, { logger: log.logger, clock, fetch: endpoint.fetch });
});

/** A handler on a new broker: a cold container. */
function coldHandler() {
  const broker = brokerOn(aws, { logger: log.logger, clock, fetch: endpoint.fetch });
  return createHandler(() => broker, log.logger);
}

const tokenEvent = (id: string, query?: Record<string, string>) =>
  apiEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id }, ...(query ? { query } : {}) });

/** A profile authorized through the code flow; the token endpoint issued a token valid `expiresIn` seconds. */
async function authorizedProfile(id: string, expiresIn = 3600): Promise<void> {
  await seeder.putProfile(id, JSON.stringify(profileBody()));
  await authorize(seeder, id, endpoint, {
    access_token: ACCESS_TOKEN,
    token_type: 'Bearer',
    expires_in: expiresIn,
    refresh_token: REFRESH_TOKEN,
    id_token: 'not.a.jwt',
    scope: 'openid offline_access',
  });
  aws.resetHistory();
}

describe('GET /profiles/{id}/token', () => {
  it('returns the held access token, never the refresh or id token', async () => {
    // Prepare
    await authorizedProfile('erp');
    const handler = coldHandler();
    clock.advance(100_000);

    // Act
    const response = await handler(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['Cache-Control']).toBe('no-store');
    expect(JSON.parse(response.body)).toEqual({
      access_token: ACCESS_TOKEN,
      token_type: 'Bearer',
      expires_at: new Date(START + 3600_000).toISOString(),
      expires_in: 3500,
      scope: 'openid offline_access',
    });
    expect(response.body).not.toContain(REFRESH_TOKEN);
    expect(response.body).not.toContain('not.a.jwt');
    expect(response.body).not.toContain(CLIENT_SECRET);
  });

  it('makes at most one DynamoDB read and one Secrets Manager read when cold, and no AWS call when warm', async () => {
    // Prepare
    await authorizedProfile('erp');
    const handler = coldHandler();

    // Act
    const cold = await handler(tokenEvent('erp'));
    const coldDynamoDb = aws.ddb.calls().length;
    const coldSecretsManager = aws.sm.mock.calls().length;
    aws.resetHistory();
    clock.advance(59_000);
    const warm = await handler(tokenEvent('erp', { minValiditySeconds: '600' }));

    // Assess
    expect(cold.statusCode).toBe(200);
    expect(warm.statusCode).toBe(200);
    expect(JSON.parse(warm.body).access_token).toBe(ACCESS_TOKEN);
    expect(coldDynamoDb).toBeLessThanOrEqual(1);
    expect(coldSecretsManager).toBeLessThanOrEqual(1);
    expect(coldDynamoDb + coldSecretsManager).toBe(2);
    expect(aws.awsCalls()).toBe(0);
  });

  it('reads the profile again after a minute in the cache (a deletion elsewhere shows), but not the token set', async () => {
    // Prepare
    await authorizedProfile('erp');
    const handler = coldHandler();
    await handler(tokenEvent('erp'));
    aws.resetHistory();
    clock.advance(60_000);

    // Act
    const rechecked = await handler(tokenEvent('erp'));
    const calls = { dynamoDb: aws.ddb.calls().length, secretsManager: aws.sm.mock.calls().length };
    await seeder.deleteProfile('erp');
    clock.advance(60_000);
    const afterDeletion = await handler(tokenEvent('erp'));

    // Assess
    expect(rechecked.statusCode).toBe(200);
    expect(calls).toEqual({ dynamoDb: 1, secretsManager: 0 });
    expect(afterDeletion.statusCode).toBe(404);
  });

  it('counts each token served by where it came from: the cache, after a minute the cache re-confirmed, the store', async () => {
    // Prepare
    await authorizedProfile('erp');
    const served: string[] = [];
    const metrics = { refresh() {}, flush() {}, tokenServed: (_seconds: number, source: string) => void served.push(source) };
    const broker = brokerOn(aws, { logger: log.logger, clock, fetch: endpoint.fetch, metrics });
    const handler = createHandler(() => broker, log.logger);

    // Act: a miss (the store), a hit, and a hit re-confirmed against the profile after a minute.
    await handler(tokenEvent('erp'));
    await handler(tokenEvent('erp'));
    clock.advance(60_000);
    const rechecked = await handler(tokenEvent('erp'));

    // Assess
    expect(rechecked.statusCode).toBe(200);
    expect(served).toEqual(['store', 'cache', 'cache']);
  });

  it('refreshes inline, once, when the held token does not satisfy the caller', async () => {
    // Prepare: a 90 s token, 31 s later (past max(30 s, 10 % of its lifetime) since it was obtained)
    await authorizedProfile('erp', 90);
    clock.advance(31_000);
    endpoint.answer(() => jsonResponse({ access_token: 'at-refreshed', token_type: 'Bearer', expires_in: 3600 }));
    const requestsBefore = endpoint.requests.length;

    // Act
    const response = await coldHandler()(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ access_token: 'at-refreshed', expires_in: 3600 });
    const refreshes = endpoint.requests.slice(requestsBefore);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]!.body.get('grant_type')).toBe('refresh_token');
    expect(refreshes[0]!.body.get('refresh_token')).toBe(REFRESH_TOKEN);
    expect(aws.sm.calls('PutSecretValue') + aws.sm.calls('CreateSecret')).toBe(1);
  });

  it('answers 503 temporarily_unavailable with Retry-After when the held token does not satisfy minValiditySeconds and cannot be refreshed', async () => {
    // Prepare
    await authorizedProfile('erp', 90);
    clock.advance(31_000);
    endpoint.answer(() => new Response('unavailable', { status: 503, headers: { 'content-type': 'text/plain', 'retry-after': '20' } }));

    // Act
    const response = await coldHandler()(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ error: 'temporarily_unavailable', message: expect.any(String) });
    expect(response.headers?.['Retry-After']).toMatch(/^[1-9]\d*$/);
    expect(response.body).not.toContain(ACCESS_TOKEN);
    expect(response.body).not.toContain(REFRESH_TOKEN);
  });

  it('answers the same held token when the caller asks for less validity', async () => {
    // Prepare
    await authorizedProfile('erp', 30);
    const handler = coldHandler();

    // Act
    const response = await handler(tokenEvent('erp', { minValiditySeconds: '10' }));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).expires_in).toBe(30);
  });

  it('obtains a client_credentials token on the first request, then answers from the cache', async () => {
    // Prepare
    await seeder.putProfile('machine', JSON.stringify(profileBody({ grantType: 'client_credentials', authorizationUrl: undefined, scope: 'api.read' })));
    endpoint.answer(() => jsonResponse({ access_token: 'at-machine', token_type: 'bearer', expires_in: 600 }));
    const handler = coldHandler();

    // Act
    const first = await handler(tokenEvent('machine'));
    aws.resetHistory();
    const second = await handler(tokenEvent('machine'));

    // Assess
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ access_token: 'at-machine', token_type: 'Bearer', scope: 'api.read', expires_in: 600 });
    expect(endpoint.requests).toHaveLength(1);
    expect(endpoint.requests[0]!.body.get('grant_type')).toBe('client_credentials');
    expect(endpoint.requests[0]!.body.get('scope')).toBe('api.read');
    expect(second.statusCode).toBe(200);
    expect(aws.awsCalls()).toBe(0);
    expect(endpoint.requests).toHaveLength(1);
  });

  it('answers 409 authorization_required for a profile that was never authorized', async () => {
    // Prepare
    await seeder.putProfile('erp', JSON.stringify(profileBody()));
    aws.resetHistory();

    // Act
    const response = await coldHandler()(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body).error).toBe('authorization_required');
    expect(aws.sm.mock.calls()).toHaveLength(0);
  });

  it('answers 404 not_found for an unknown profile', async () => {
    // Act
    const response = await coldHandler()(tokenEvent('nope'));

    // Assess
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body)).toEqual({ error: 'not_found', message: expect.any(String) });
    expect(aws.writes()).toBe(0);
  });

  it.each(['abc', '5000', '-1', '1.5', '', '3601'])('answers 400 for minValiditySeconds=%s without calling AWS', async (value) => {
    // Act
    const response = await coldHandler()(tokenEvent('erp', { minValiditySeconds: value }));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
    expect(aws.awsCalls()).toBe(0);
  });

  it.each(['0', '3600'])('accepts minValiditySeconds=%s', async (value) => {
    // Prepare
    await authorizedProfile('erp', 7200);

    // Act
    const response = await coldHandler()(tokenEvent('erp', { minValiditySeconds: value }));

    // Assess
    expect(response.statusCode).toBe(200);
  });

  it('answers 400 for a bad profile id without calling AWS', async () => {
    // Act
    const response = await coldHandler()(tokenEvent('Not-An-Id'));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(aws.awsCalls()).toBe(0);
  });

  it('answers 500 internal_error, without the error text, when DynamoDB fails unexpectedly', async () => {
    // Prepare
    aws.ddb.on(GetCommand).rejects(new Error(`connection reset; ${CLIENT_SECRET}`));

    // Act
    const response = await coldHandler()(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: 'internal_error', message: expect.any(String) });
    expect(response.body).not.toContain(CLIENT_SECRET);
    expect(response.body).not.toContain('connection reset');
    expect(log.lines.join('\n')).not.toContain(CLIENT_SECRET);
  });

  it('answers 503 with Retry-After when Secrets Manager throttles', async () => {
    // Prepare
    await authorizedProfile('erp');
    aws.sm.mock.on(GetSecretValueCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));

    // Act
    const response = await coldHandler()(tokenEvent('erp'));

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body).error).toBe('temporarily_unavailable');
    expect(Number(response.headers?.['Retry-After'])).toBeGreaterThan(0);
  });

  it('logs neither the access token, the refresh token nor the client secret', async () => {
    // Prepare
    await authorizedProfile('erp', 30);
    const handler = coldHandler();

    // Act
    await handler(tokenEvent('erp', { minValiditySeconds: '0' }));
    await handler(tokenEvent('erp'));

    // Assess
    const logs = log.lines.join('\n');
    expect(log.lines.length).toBeGreaterThan(0);
    expect(logs).not.toContain(ACCESS_TOKEN);
    expect(logs).not.toContain(REFRESH_TOKEN);
    expect(logs).not.toContain(CLIENT_SECRET);
  });
});
