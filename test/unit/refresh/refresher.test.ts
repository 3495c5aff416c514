/**
 * A refresh at its floor of AWS calls, and the client secret it caches: one DynamoDB write before the
 * grant (the lease with the pending version), one after (the commit), one Secrets Manager read (the held
 * set) and one write (the new set) once the container holds the secret; the cached secret re-read once
 * on invalid_client, and never sent to an endpoint it was not stored with.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Broker } from '../../../lib/broker.js';
import { CLIENT_SECRET, TestClock, authorize, brokerOn, captureLogger, jsonResponse, profileBody, scriptedTokenEndpoint, useAwsMocks } from '../support/harness.js';
import type { ScriptedTokenEndpoint } from '../support/harness.js';

const aws = useAwsMocks();
let clock: TestClock;
let endpoint: ScriptedTokenEndpoint;
const logger = () => captureLogger().logger;

beforeEach(() => {
  clock = new TestClock();
  endpoint = scriptedTokenEndpoint();
});

/** The AWS calls made since the last reset, by kind. */
function calls() {
  return {
    dynamoDbWrites: aws.ddb.commandCalls(UpdateCommand).length,
    secretsManagerReads: aws.sm.calls('GetSecretValue'),
    secretsManagerWrites: aws.sm.calls('PutSecretValue') + aws.sm.calls('CreateSecret'),
  };
}

/** `client_id:client_secret` of a Basic authorization header (RFC 6749 §2.3.1: each form-encoded). */
const secretSent = (request: { headers: Headers }) =>
  Buffer.from((request.headers.get('authorization') ?? '').replace(/^Basic /, ''), 'base64')
    .toString('utf8')
    .split(':')
    .map((part) => decodeURIComponent(part.replace(/\+/g, ' ')))
    .join(':');

let n = 0;
const freshTokens = () => jsonResponse({ access_token: `at-${++n}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${n}` });

async function authorized(broker: Broker, id: string): Promise<void> {
  await broker.putProfile(id, JSON.stringify(profileBody()));
  await authorize(broker, id, endpoint, { access_token: 'at-0', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-0' });
}

describe('a scheduled refresh at its floor of AWS calls', () => {
  it('1 DynamoDB write before the grant, 1 after, 1 Secrets Manager read and 1 write, once the container holds the client secret', async () => {
    // Prepare: the container refreshed once already (it read the client secret then).
    const broker = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    await authorized(broker, 'erp');
    clock.advance(3600_000);
    endpoint.answer(freshTokens);
    expect((await broker.runScheduledRefresh()).outcomes).toEqual({ refreshed: 1 });
    clock.advance(3600_000);
    aws.resetHistory();
    let atGrant: ReturnType<typeof calls> | undefined;
    endpoint.answer(() => {
      atGrant = calls();
      return freshTokens();
    });

    // Act
    const run = await broker.runScheduledRefresh();

    // Assess
    expect(run.outcomes).toEqual({ refreshed: 1 });
    const after = calls();
    expect(atGrant).toEqual({ dynamoDbWrites: 1, secretsManagerReads: 1, secretsManagerWrites: 0 });
    expect(after).toEqual({ dynamoDbWrites: 2, secretsManagerReads: 1, secretsManagerWrites: 1 });
    const record = await broker.getProfile('erp');
    expect(record.status).toMatchObject({ state: 'ready', consecutiveFailures: 0 });
  });

  it('a new container reads the client secret once, with its first refresh', async () => {
    const seeder = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    await authorized(seeder, 'erp');
    clock.advance(3600_000);
    aws.resetHistory();
    endpoint.answer(freshTokens);

    await brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch }).runScheduledRefresh();

    expect(calls()).toEqual({ dynamoDbWrites: 2, secretsManagerReads: 2, secretsManagerWrites: 1 });
  });
});

describe('the cached client secret', () => {
  it('is read again once on invalid_client, and the grant asked again with the new one', async () => {
    // Prepare: container A holds the old secret; container B stores a new one.
    const a = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    const b = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    await authorized(a, 'erp');
    clock.advance(3600_000);
    endpoint.answer(freshTokens);
    await a.runScheduledRefresh();
    await b.putProfile('erp', JSON.stringify(profileBody({ clientSecret: 'cs-the-NEW-client-secret-0815' })));
    clock.advance(3600_000);
    const before = endpoint.requests.length;
    endpoint.answer(() => (secretSent(endpoint.requests.at(-1)!).endsWith(':cs-the-NEW-client-secret-0815') ? freshTokens() : jsonResponse({ error: 'invalid_client' }, 401)));

    // Act
    const run = await a.runScheduledRefresh();

    // Assess
    expect(run.outcomes).toEqual({ refreshed: 1 });
    const sent = endpoint.requests.slice(before).map(secretSent);
    expect(sent).toEqual([`mes-client:${CLIENT_SECRET}`, 'mes-client:cs-the-NEW-client-secret-0815']);
    expect((await a.getProfile('erp')).status.state).toBe('ready');
  });

  it('an unchanged secret refused with invalid_client is not asked again: the profile is in error', async () => {
    const broker = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    await authorized(broker, 'erp');
    clock.advance(3600_000);
    const before = endpoint.requests.length;
    endpoint.answer(() => jsonResponse({ error: 'invalid_client' }, 401));

    const run = await broker.runScheduledRefresh();

    expect(run.outcomes).toEqual({ error: 1 });
    expect(endpoint.requests.length - before).toBe(1);
    expect((await broker.getProfile('erp')).status).toMatchObject({ state: 'error', lastError: { code: 'invalid_client' } });
  });

  it('is never sent to a token endpoint other than the one it was stored with', async () => {
    // Prepare: container A caches the secret of a client-credentials profile on as.example; B moves the
    // profile to another host with another secret.
    const body = profileBody({ grantType: 'client_credentials', authorizationUrl: undefined });
    const a = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    const b = brokerOn(aws, { logger: logger(), clock, fetch: endpoint.fetch });
    await a.putProfile('m2m', JSON.stringify(body));
    endpoint.answer(freshTokens);
    expect((await a.runScheduledRefresh()).outcomes).toEqual({ refreshed: 1 });
    await b.putProfile('m2m', JSON.stringify({ ...body, tokenUrl: 'https://other.example/token', clientSecret: 'cs-for-the-other-host-4242' }));
    const before = endpoint.requests.length;

    // Act
    await a.runScheduledRefresh();

    // Assess
    const sent = endpoint.requests.slice(before);
    expect(sent.map((request) => request.url)).toEqual(['https://other.example/token']);
    expect(sent.map(secretSent)).toEqual(['mes-client:cs-for-the-other-host-4242']);
  });
});
