/**
 * The handlers as deployed (`export const handler`): each builds its own use cases from the environment
 * (lib/composition.ts `fromEnvironment`, `signingKeysFromEnvironment`) and reaches the table the
 * environment names. The other tests build their handlers on a `Broker` of their own; this one checks the
 * wiring the Lambda functions run.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as jwks } from '../../../lambdas/jwks.js';
import { handler as keys } from '../../../lambdas/keys.js';
import { handler as profiles } from '../../../lambdas/profiles.js';
import { handler as token } from '../../../lambdas/token.js';
import { apiEvent } from '../support/events.js';
import { useAwsMocks } from '../support/harness.js';

const aws = useAwsMocks();
const ENVIRONMENT = {
  BROKER_TABLE_NAME: 'deployed-table',
  BROKER_CALLBACK_URL: 'https://api.example/prod/callback',
  // A configured key: the ring is read (without keys there is none to read). Nothing here signs.
  BROKER_SIGNING_KEYS: 'ES256=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
};
const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const [name, value] of Object.entries(ENVIRONMENT)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});
afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** The keys DynamoDB was asked for, with the table each was read from. */
const reads = () => aws.ddb.commandCalls(GetCommand).map((call) => `${call.args[0].input.TableName} ${String((call.args[0].input.Key as { pk: string }).pk)}`);

describe('the deployed handlers', () => {
  it('jwks: reads the key ring from the environment\'s table, and serves its (empty) set', async () => {
    // Act
    const answer = await jwks(apiEvent({ method: 'GET', resource: '/jwks' }));

    // Assess
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ keys: [] });
    expect(reads()).toEqual(['deployed-table KEYRING']);
  });

  it.each([
    ['token', token, apiEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id: 'erp' } })],
    ['profiles', profiles, apiEvent({ method: 'GET', resource: '/profiles/{id}', pathParameters: { id: 'erp' } })],
    ['keys', keys, apiEvent({ method: 'GET', resource: '/profiles/{id}/signing-key', pathParameters: { id: 'erp' } })],
  ] as const)('%s: looks the profile up in the environment\'s table (404 when it is not there)', async (_name, handler, event) => {
    // Act
    const answer = await handler(event, undefined);

    // Assess
    expect(answer.statusCode).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'not_found' });
    expect(reads()).toContain('deployed-table PROFILE#erp');
  });
});
