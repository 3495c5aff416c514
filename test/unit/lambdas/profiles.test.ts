import { beforeEach, describe, expect, it } from 'vitest';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHandler } from '../../../lambdas/profiles.js';
import { MAX_BODY_BYTES } from '../../../lib/profile.js';
import { apiEvent } from '../support/events.js';
import {
  CALLBACK_URL,
  CLIENT_SECRET,
  SECRET_PREFIX,
  START,
  TestClock,
  brokerOn,
  captureLogger,
  profileBody,
  useAwsMocks,
  type CapturedLog,
} from '../support/harness.js';

const aws = useAwsMocks();
let log: CapturedLog;
let clock: TestClock;
let handler: ReturnType<typeof createHandler>;

beforeEach(() => {
  log = captureLogger();
  clock = new TestClock();
  const broker = brokerOn(aws, { logger: log.logger, clock });
  handler = createHandler(() => broker, log.logger);
});

const put = (id: string, body: unknown) =>
  handler(
    apiEvent({
      method: 'PUT',
      resource: '/profiles/{id}',
      pathParameters: { id },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
const get = (id: string) => handler(apiEvent({ method: 'GET', resource: '/profiles/{id}', pathParameters: { id } }));
const list = () => handler(apiEvent({ method: 'GET', resource: '/profiles' }));
const remove = (id: string) => handler(apiEvent({ method: 'DELETE', resource: '/profiles/{id}', pathParameters: { id } }));

describe('PUT /profiles/{id}', () => {
  it('creates with 201 and the view, then replaces with 200', async () => {
    // Act
    const created = await put('erp', profileBody());
    clock.advance(60_000);
    const replaced = await put('erp', profileBody({ scope: 'openid offline_access api.read' }));

    // Assess
    expect(created.statusCode).toBe(201);
    expect(replaced.statusCode).toBe(200);
    const view = JSON.parse(created.body);
    expect(view).toMatchObject({
      id: 'erp',
      grantType: 'authorization_code',
      authorizationUrl: 'https://as.example/authorize',
      tokenUrl: 'https://as.example/token',
      issuer: null,
      clientId: 'mes-client',
      hasClientSecret: true,
      clientAuthMethod: 'client_secret_basic',
      usePkce: true,
      defaultTokenLifetimeSeconds: 3600,
      callbackUrl: CALLBACK_URL,
      status: { state: 'authorization_required', hasRefreshToken: false, lastError: null, consecutiveFailures: 0 },
      createdAt: new Date(START).toISOString(),
    });
    expect(view).not.toHaveProperty('clientSecret');
    expect(created.body).not.toContain(CLIENT_SECRET);
    expect(replaced.body).not.toContain(CLIENT_SECRET);
    const second = JSON.parse(replaced.body);
    expect(second.scope).toBe('openid offline_access api.read');
    expect(second.createdAt).toBe(new Date(START).toISOString());
    expect(second.updatedAt).toBe(new Date(START + 60_000).toISOString());
    expect(created.headers?.['Content-Type']).toMatch(/^application\/json/);
  });

  it('stores the client secret in Secrets Manager and nowhere else', async () => {
    // Act
    await put('erp', profileBody());

    // Assess
    expect(aws.sm.currentValue(`${SECRET_PREFIX}/erp/client-secret`)).toBe(CLIENT_SECRET);
    expect(JSON.stringify([...aws.table.items.values()])).not.toContain(CLIENT_SECRET);
    expect(log.lines.join('\n')).not.toContain(CLIENT_SECRET);
  });

  it('keeps the stored client secret when an update omits it', async () => {
    // Prepare
    await put('erp', profileBody());
    aws.resetHistory();
    const { clientSecret: _omitted, ...withoutSecret } = profileBody();

    // Act
    const response = await put('erp', withoutSecret);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).hasClientSecret).toBe(true);
    expect(aws.sm.calls('PutSecretValue') + aws.sm.calls('CreateSecret')).toBe(0);
    expect(aws.sm.currentValue(`${SECRET_PREFIX}/erp/client-secret`)).toBe(CLIENT_SECRET);
  });

  it.each([
    ['a malformed URL', profileBody({ tokenUrl: 'https//as.example/token' })],
    ['an http: URL on a non-loopback host', profileBody({ tokenUrl: 'http://as.example/token' })],
    ['an unknown grantType', profileBody({ grantType: 'implicit' })],
    ['a reserved authorizationParams key', profileBody({ authorizationParams: { redirect_uri: 'https://evil.example/' } })],
    ['an unknown field', profileBody({ secret: 'x' })],
    ['malformed JSON', '{"clientId":'],
    ['a body over 16 KiB', profileBody({ scope: 'a'.repeat(MAX_BODY_BYTES) })],
  ])('answers 400 invalid_request for %s and writes nothing', async (_, body) => {
    // Act
    const response = await put('erp', body);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid_request', message: expect.any(String) });
    expect(response.body).not.toContain(CLIENT_SECRET);
    expect(aws.ddb.commandCalls(PutCommand)).toHaveLength(0);
    expect(aws.ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(aws.ddb.commandCalls(DeleteCommand)).toHaveLength(0);
    expect(aws.sm.calls('CreateSecret')).toBe(0);
    expect(aws.sm.calls('PutSecretValue')).toBe(0);
    expect(aws.sm.secrets.size).toBe(0);
    expect(aws.table.items.size).toBe(0);
  });

  it.each(['ERP', '-erp', 'a'.repeat(65), 'erp/prod', '_erp'])('answers 400 for the bad id %s and reads or writes nothing', async (id) => {
    // Act
    const response = await put(id, profileBody());

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
    expect(aws.awsCalls()).toBe(0);
  });

  it('answers 400 when a new profile has no client secret, and writes nothing', async () => {
    // Prepare
    const { clientSecret: _omitted, ...withoutSecret } = profileBody();

    // Act
    const response = await put('erp', withoutSecret);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
    expect(aws.writes()).toBe(0);
  });

  it('leaves an existing profile untouched when the replacement is invalid', async () => {
    // Prepare
    await put('erp', profileBody());
    const before = JSON.stringify([...aws.table.items.entries()]);
    aws.resetHistory();

    // Act
    const response = await put('erp', profileBody({ clientSecret: 'new-secret', tokenUrl: 'http://as.example/token' }));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(aws.writes()).toBe(0);
    expect(JSON.stringify([...aws.table.items.entries()])).toBe(before);
    expect(aws.sm.currentValue(`${SECRET_PREFIX}/erp/client-secret`)).toBe(CLIENT_SECRET);
  });
  it('answers 409 conflict when another request replaced the profile in between, and keeps the stored client secret', async () => {
    // Prepare: the conditional write loses to a concurrent replacement.
    await put('erp', profileBody());
    aws.ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ $metadata: {}, message: 'The conditional request failed' }));

    // Act
    const response = await put('erp', profileBody({ clientSecret: 'replacement-secret-of-the-loser' }));

    // Assess: a 409 tells the caller nothing was applied, so nothing of it may be live.
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body).error).toBe('conflict');
    expect(aws.sm.currentValue(`${SECRET_PREFIX}/erp/client-secret`)).toBe(CLIENT_SECRET);
  });
});

describe('GET /profiles and /profiles/{id}', () => {
  it('answers 404 not_found for an unknown profile', async () => {
    // Act
    const response = await get('nope');

    // Assess
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body)).toEqual({ error: 'not_found', message: expect.stringContaining('nope') });
  });

  it('returns the view of a profile and the list of all', async () => {
    // Prepare
    await put('mes', profileBody());
    await put('erp', profileBody({ grantType: 'client_credentials', authorizationUrl: undefined }));

    // Act
    const one = await get('mes');
    const all = await list();

    // Assess
    expect(one.statusCode).toBe(200);
    expect(JSON.parse(one.body)).toMatchObject({ id: 'mes', hasClientSecret: true, callbackUrl: CALLBACK_URL });
    expect(all.statusCode).toBe(200);
    const { profiles } = JSON.parse(all.body) as { profiles: Array<{ id: string; grantType: string }> };
    expect(profiles.map((p) => [p.id, p.grantType])).toEqual([
      ['erp', 'client_credentials'],
      ['mes', 'authorization_code'],
    ]);
    expect(one.body + all.body).not.toContain(CLIENT_SECRET);
  });
});

describe('DELETE /profiles/{id}', () => {
  it('answers 204 and removes the profile with its secrets', async () => {
    // Prepare
    await put('erp', profileBody());

    // Act
    const response = await remove('erp');

    // Assess
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect((await get('erp')).statusCode).toBe(404);
    expect(aws.sm.secrets.has(`${SECRET_PREFIX}/erp/client-secret`)).toBe(false);
    expect(aws.table.items.size).toBe(0);
  });

  it('answers 404 for an unknown profile and deletes nothing', async () => {
    // Act
    const response = await remove('nope');

    // Assess
    expect(response.statusCode).toBe(404);
    expect(aws.writes()).toBe(0);
  });
});

describe('errors', () => {
  it('answers 400 for a route that is not one of the API', async () => {
    // Act
    const response = await handler(apiEvent({ method: 'PATCH', resource: '/profiles/{id}', pathParameters: { id: 'erp' } }));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toBe('invalid_request');
  });

  it('answers 500 internal_error without the exception text for an unexpected AWS error', async () => {
    // Prepare
    const leaked = 'internal detail sk-LEAKED-SECRET-1234';
    aws.ddb.on(GetCommand).rejects(new Error(leaked));

    // Act
    const response = await get('erp');

    // Assess
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: 'internal_error', message: expect.any(String) });
    expect(response.body).not.toContain('sk-LEAKED-SECRET-1234');
    expect(log.lines.join('\n')).not.toContain('sk-LEAKED-SECRET-1234');
    expect(log.lines.some((line) => JSON.parse(line).level === 'error')).toBe(true);
  });

  it('answers 503 temporarily_unavailable with Retry-After when AWS throttles', async () => {
    // Prepare
    aws.ddb.on(GetCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));

    // Act
    const response = await get('erp');

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body).error).toBe('temporarily_unavailable');
    expect(Number(response.headers?.['Retry-After'])).toBeGreaterThan(0);
  });
});
