/**
 * `private_key_jwt` as composed for the cloud (`createBroker`): keys named by ARN in `BROKER_SIGNING_KEYS`,
 * signing in KMS (mocked, backed by real keys), the key ring on dynalite, the real Lambda handlers, and a
 * real oidc-provider that fetches the broker's JWKS (`lambdas/jwks.ts` behind a loopback "API Gateway").
 * A client-credentials profile goes green with KMS signatures; bad keys are refused with 400 and change
 * nothing; rotation moves signing to the next KMS key and signals each step.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHandler as createJwksHandler } from '../../../lambdas/jwks.js';
import { createHandler as createKeysHandler } from '../../../lambdas/keys.js';
import { createHandler as createProfilesHandler } from '../../../lambdas/profiles.js';
import { createHandler as createTokenHandler } from '../../../lambdas/token.js';
import { createTable } from '../../../lib/adapters/dynamodb-profile-store.js';
import type { Broker } from '../../../lib/broker.js';
import { createBroker, readSettings } from '../../../lib/composition.js';
import { DynamoDbKeyRingStore } from '../../../lib/keys/dynamodb-key-ring-store.js';
import { LoggedSigningKeyEvents } from '../../../lib/keys/events.js';
import type { KeyRingView } from '../../../lib/keys/signing-keys.js';
import { jwkThumbprint, publicJwkOf } from '../../../lib/keys/signer.js';
import { createLocalHttpServer, type LocalHttpServer } from '../../../lib/local/http-adapter.js';
import { createLogger } from '../../../lib/logger.js';
import type { ProfileView } from '../../../lib/profile.js';
import { apiGatewayEvent, events, jsonBody } from '../../support/api-events.js';
import { startDynalite, type RunningDynalite } from '../../support/dynalite.js';
import { createFakeKms, type FakeKms, type FakeKmsKey } from '../../support/fake-kms.js';
import { createFakeSecretsManager, type FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';
import { startOidcServer, type OidcServer } from '../../support/oidc-server.js';

const TABLE = 'keys-kms';
const MACHINE_CLIENT = 'kms-machine-client';
const MISSING_ARN = 'arn:aws:kms:eu-central-1:111122223333:key/99999999-0000-4000-8000-000000000000';

let db: RunningDynalite;
let secrets: FakeSecretsManager;
let kms: FakeKms;
let http: LocalHttpServer;
let server: OidcServer;
let broker: Broker;
let keyEvents: LoggedSigningKeyEvents;
let logs: LogCapture;
const keys = {} as { first: FakeKmsKey; second: FakeKmsKey; ecLabelledRsa: FakeKmsKey };
const logger = createLogger();

const profiles = () => createProfilesHandler(() => broker, logger);
const keyRoutes = () => createKeysHandler(() => broker, logger);
const ringStore = () => new DynamoDbKeyRingStore({ tableName: TABLE, client: db.doc });

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  secrets = createFakeSecretsManager();
  kms = createFakeKms();
  keys.first = kms.addKey('ECC_NIST_P256');
  keys.second = kms.addKey('ECC_NIST_P256');
  keys.ecLabelledRsa = kms.addKey('ECC_NIST_P256');
  keyEvents = new LoggedSigningKeyEvents();

  // The JWKS route of the "API Gateway"; the broker's callback URL (hence its jwks_uri) is on it.
  http = createLocalHttpServer({ routes: [{ method: 'GET', resource: '/jwks', handler: createJwksHandler(() => broker, logger) }] });
  await http.listen(0);
  const settings = readSettings({
    BROKER_TABLE_NAME: TABLE,
    BROKER_CALLBACK_URL: `${http.url}/callback`,
    BROKER_SECRET_PREFIX: 'oauth-broker/keys-kms',
    BROKER_SIGNING_KEYS: [`ES256=${keys.first.arn}`, `ES256=${keys.second.arn}`, `RS256=${keys.ecLabelledRsa.arn}`, `PS256=${MISSING_ARN}`].join(','),
  });
  broker = createBroker(settings, { dynamoDb: db.doc, secretsManager: secrets.client, logger, urlPolicy: 'local', signingKeys: { kms: kms.client, events: keyEvents } });
  server = await startOidcServer({
    clients: [{ clientId: MACHINE_CLIENT, authMethod: 'private_key_jwt', jwksUri: `${http.url}/jwks`, redirectUris: [], grantTypes: ['client_credentials'] }],
    clientCredentials: true,
  });
});

afterAll(async () => {
  await Promise.allSettled([server?.close(), http?.close(), db?.close()]);
  kms?.restore();
  secrets?.restore();
});

beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => {
  vi.useRealTimers();
  logs?.stop();
});

function machineBody(extra: Record<string, unknown> = {}) {
  return { grantType: 'client_credentials', tokenUrl: server.tokenEndpoint, clientId: MACHINE_CLIENT, clientAuthMethod: 'private_key_jwt', clientAssertionAudience: 'token_endpoint', ...extra };
}

async function tokenFor(id: string): Promise<string> {
  const answer = await createTokenHandler(() => broker, logger)(events.token(id));
  expect(answer.statusCode, answer.body).toBe(200);
  return jsonBody<{ access_token: string }>(answer).access_token;
}

const post = (resource: string, body: unknown) => keyRoutes()(apiGatewayEvent({ method: 'POST', resource, body: JSON.stringify(body) }));

describe('private_key_jwt with KMS keys (mocked KMS)', () => {
  it('a client-credentials profile with no secret goes green: KMS signs with the pinned algorithm, the server verifies through the JWKS', async () => {
    const put = await profiles()(events.putProfile('kms-machine', machineBody()));
    expect(put.statusCode, put.body).toBe(201);
    const view = jsonBody<ProfileView>(put);
    const kid = jwkThumbprint(publicJwkOf(keys.first.publicKey));
    expect(view).toMatchObject({ hasClientSecret: false, signingKey: { kid, alg: 'ES256', thumbprint: kid, jwksUri: `${http.url}/jwks` } });
    expect(secrets.secrets.size, 'no client secret written').toBe(0);

    const signsBefore = kms.signRequests.length;
    const accessToken = await tokenFor('kms-machine');
    expect(await server.introspect(accessToken)).toBe(true);
    const assertion = server.clientAssertions.at(-1)!;
    expect(assertion).toMatchObject({ status: 200, header: { alg: 'ES256', kid }, payload: { iss: MACHINE_CLIENT, sub: MACHINE_CLIENT, aud: server.tokenEndpoint } });
    const signs = kms.signRequests.slice(signsBefore);
    expect(signs).toHaveLength(1);
    expect(signs[0]).toMatchObject({ KeyId: keys.first.arn, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' });
    expect(Buffer.from(signs[0]!.Message!).toString()).toBe(assertion.jwt.split('.').slice(0, 2).join('.'));
    expect(logs.entries().length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain(assertion.jwt);
    // The private key stays in (fake) KMS: nothing the broker wrote or answered holds it.
    const d = (keys.first.privateKey.export({ format: 'jwk' }) as { d: string }).d;
    expect(logs.text()).not.toContain(d);
    expect(put.body).not.toContain(d);
    expect(JSON.stringify(await ringStore().get())).not.toContain(d);
  });

  it.each([
    ['an RSA algorithm on an EC key', { clientAssertionAlgorithm: 'RS256' }, /elliptic-curve key; RS256 needs an RSA key/],
    ['a key missing from KMS', { clientAssertionAlgorithm: 'PS256' }, /it does not exist in this account and region/],
  ])('PUT with %s is refused with 400 invalid_request and changes nothing', async (_, extra, message) => {
    const ringBefore = await ringStore().get();
    const signsBefore = kms.signRequests.length;
    const answer = await profiles()(events.putProfile('kms-refused', machineBody(extra)));
    expect(answer.statusCode, answer.body).toBe(400);
    expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
    expect(jsonBody<{ message: string }>(answer).message).toMatch(/Nothing was changed\.$/);
    expect((await profiles()(events.getProfile('kms-refused'))).statusCode).toBe(404);
    expect(await ringStore().get()).toEqual(ringBefore);
    expect(kms.signRequests.length).toBe(signsBefore);
  });

  it.each([
    ['a key configured for another algorithm', () => ({ alg: 'RS256', keyArn: keys.first.arn }), /is configured for ES256, not RS256/],
    ['a key the stack did not configure', () => ({ keyArn: 'arn:aws:kms:eu-central-1:111122223333:key/12345678-0000-4000-8000-000000000000' }), /not one of the broker's signing keys/],
    ['an RSA algorithm on an EC key', () => ({ alg: 'RS256' }), /elliptic-curve key; RS256 needs an RSA key/],
    ['a key missing from KMS', () => ({ alg: 'PS256' }), /does not exist/],
  ])('POST /keys/rotate with %s is refused with 400 and changes nothing', async (_, body, message) => {
    const ringBefore = await ringStore().get();
    const answer = await post('/keys/rotate', body());
    expect(answer.statusCode, answer.body).toBe(400);
    expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
    expect(await ringStore().get()).toEqual(ringBefore);
  });

  it('a broker without BROKER_SIGNING_KEYS refuses private_key_jwt profiles with 400 and stores nothing', async () => {
    await createTable(db.client, 'keys-none');
    const settings = readSettings({ BROKER_TABLE_NAME: 'keys-none', BROKER_CALLBACK_URL: `${http.url}/callback`, BROKER_SECRET_PREFIX: 'oauth-broker/keys-none' });
    const bare = createBroker(settings, { dynamoDb: db.doc, secretsManager: secrets.client, logger, urlPolicy: 'local', signingKeys: { kms: kms.client, events: keyEvents } });
    const handler = createProfilesHandler(() => bare, logger);
    const answer = await handler(events.putProfile('no-keys', machineBody()));
    expect(answer.statusCode, answer.body).toBe(400);
    expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringMatching(/no signing keys configured.*BROKER_SIGNING_KEYS/) });
    expect((await handler(events.getProfile('no-keys'))).statusCode).toBe(404);
    expect(await new DynamoDbKeyRingStore({ tableName: 'keys-none', client: db.doc }).get()).toBeUndefined();
  });

  it('a key the broker may read but not sign with is refused with 400 when it would enter the ring; nothing is stored', async () => {
    const denied = kms.addKey('ECC_NIST_P256');
    denied.signDenied = true;
    await createTable(db.client, 'keys-denied');
    const settings = readSettings({
      BROKER_TABLE_NAME: 'keys-denied',
      BROKER_CALLBACK_URL: `${http.url}/callback`,
      BROKER_SECRET_PREFIX: 'oauth-broker/keys-denied',
      BROKER_SIGNING_KEYS: `ES256=${denied.arn}`,
    });
    const deniedBroker = createBroker(settings, { dynamoDb: db.doc, secretsManager: secrets.client, logger, urlPolicy: 'local', signingKeys: { kms: kms.client, events: keyEvents } });
    const handler = createProfilesHandler(() => deniedBroker, logger);
    const answer = await handler(events.putProfile('denied', machineBody()));
    expect(answer.statusCode, answer.body).toBe(400);
    expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringMatching(/may not use it: the stack grants kms:Sign/) });
    expect((await handler(events.getProfile('denied'))).statusCode).toBe(404);
    expect(await new DynamoDbKeyRingStore({ tableName: 'keys-denied', client: db.doc }).get()).toBeUndefined();
  });

  it('rotation moves signing to the next KMS key, the profile stays green, and each step is signalled', async () => {
    keyEvents.changes.length = 0;
    const rotated = await post('/keys/rotate', {});
    expect(rotated.statusCode, rotated.body).toBe(200);
    const next = jsonBody<KeyRingView>(rotated).keys.find((key) => key.status === 'next')!;
    expect(next.key).toBe(keys.second.arn);
    expect(keyEvents.changes).toEqual([{ step: 'published', kid: next.kid, alg: 'ES256', key: keys.second.arn }]);

    // One rotation at a time.
    const again = await post('/keys/rotate', {});
    expect(again.statusCode).toBe(409);
    expect(jsonBody(again)).toMatchObject({ error: 'conflict', message: expect.stringMatching(/next ES256 key .* is already published/) });

    // Past the JWKS cache time (for broker and server alike), promote; the server re-fetches the JWKS.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 6 * 60 * 1000);
    const promoted = await post('/keys/promote', { graceSeconds: 3600 });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(keyEvents.changes.slice(1)).toEqual([
      { step: 'promoted', kid: next.kid, alg: 'ES256', key: keys.second.arn },
      { step: 'retiring', kid: jwkThumbprint(publicJwkOf(keys.first.publicKey)), alg: 'ES256', key: keys.first.arn, withdrawAt: expect.any(String) },
    ]);

    const refreshed = await profiles()(apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id: 'kms-machine' } }));
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(jsonBody<ProfileView>(refreshed).status.state).toBe('ready');
    expect(server.clientAssertions.at(-1)).toMatchObject({ status: 200, header: { kid: next.kid } });
    expect(kms.signRequests.at(-1)).toMatchObject({ KeyId: keys.second.arn, SigningAlgorithm: 'ECDSA_SHA_256' });

    // Every configured ES256 key has now been used: the next rotation needs a new key from the stack.
    const exhausted = await post('/keys/rotate', {});
    expect(exhausted.statusCode).toBe(409);
    expect(jsonBody(exhausted)).toMatchObject({ error: 'conflict', message: expect.stringMatching(/Every configured ES256 KMS key is in use or was used before: add a new key to the stack/) });
  });
});
