/**
 * openapi.yaml describes what the handlers really answer: real responses of the Lambda handlers (driven
 * with API Gateway events on the unit harness: mocked AWS, a scripted token endpoint) are checked against
 * the document's status codes, content types, required headers and JSON schemas (JSON Schema 2020-12), and
 * every API route served in local mode is described, the signing-key admin routes included (with KMS keys on
 * the fake KMS of test/support, and without signing keys).
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHandler as authorizeUrlHandler } from '../../lambdas/authorize-url.js';
import { createHandler as callbackHandler } from '../../lambdas/callback.js';
import { createHandler as jwksHandler } from '../../lambdas/jwks.js';
import { createHandler as keysHandler } from '../../lambdas/keys.js';
import { createHandler as profilesHandler } from '../../lambdas/profiles.js';
import { createHandler as tokenHandler } from '../../lambdas/token.js';
import { Broker } from '../../lib/broker.js';
import type { KeyRingView, ProfileKeyMaterial } from '../../lib/keys/signing-keys.js';
import type { ProfileStore, SecretVault } from '../../lib/ports.js';
import { localRoutes } from '../../lib/local/local-broker.js';
import { apiGatewayEvent, events, header, jsonBody } from '../support/api-events.js';
import { createFakeKms, type FakeKms } from '../support/fake-kms.js';
import { CALLBACK_URL, TestClock, brokerOn, captureLogger, jsonResponse, profileBody, scriptedTokenEndpoint, stateOf, useAwsMocks, type ScriptedTokenEndpoint } from './support/harness.js';

// ajv-formats is CommonJS with a default export.
type FormatsPlugin = (ajv: Ajv2020) => unknown;
const addFormats: FormatsPlugin =
  (addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? (addFormatsModule as unknown as FormatsPlugin);

type Json = Record<string, unknown>;
interface Operation {
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, Json>;
}

const DOCUMENT = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Json;
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi', components: DOCUMENT.components });

/** Local `$ref`s (`#/components/…`) pointed at the document registered above. */
function anchored<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/components/', '"openapi#/components/')) as T;
}

function resolve(node: Json): Json {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const path = ref.replace(/^#\//, '').split('/');
  return path.reduce<Json>((at, key) => at[key] as Json, DOCUMENT as unknown as Json);
}

/** Every (method, path) the tests below answered, to show that each described operation was exercised. */
const exercised = new Set<string>();

/** Asserts that `result` is an answer the document allows for `method resource`. */
function expectDescribed(method: string, resource: string, result: APIGatewayProxyResult): void {
  const where = `${method.toUpperCase()} ${resource} → ${result.statusCode}`;
  const operation = DOCUMENT.paths[resource]?.[method.toLowerCase()];
  expect(operation, `${method} ${resource} is not in openapi.yaml`).toBeDefined();
  const described = operation!.responses[String(result.statusCode)];
  expect(described, `${where} is not described`).toBeDefined();
  const response = resolve(described!);
  exercised.add(`${method.toUpperCase()} ${resource} ${result.statusCode}`);

  for (const [name, definition] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const header_ = resolve(definition);
    const value = header(result, name);
    if (header_.required) expect(value, `${where}: header ${name}`).toBeDefined();
    if (value !== undefined && header_.schema) {
      const validate = ajv.compile(anchored(header_.schema as Json));
      expect(validate(value), `${where}: header ${name}=${value}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  }

  const content = response.content as Record<string, { schema: Json }> | undefined;
  if (!content) {
    expect(result.body ?? '', `${where} has no body`).toBe('');
    return;
  }
  const contentType = header(result, 'content-type') ?? '';
  const mediaType = Object.keys(content).find((type) => contentType.startsWith(type));
  expect(mediaType, `${where}: Content-Type ${contentType} is not one of ${Object.keys(content).join(', ')}`).toBeDefined();
  const body = /[/+]json$/.test(mediaType!) ? jsonBody(result) : result.body;
  const validate = ajv.compile(anchored(content[mediaType!]!.schema));
  expect(validate(body), `${where}: ${ajv.errorsText(validate.errors)}\n${result.body}`).toBe(true);
}

/** Whether the document's JSON request body schema of `method resource` accepts `body`. */
function requestBodyDescribed(method: string, resource: string, body: unknown): boolean {
  const schema = DOCUMENT.paths[resource]?.[method.toLowerCase()]?.requestBody?.content['application/json']?.schema;
  expect(schema, `${method} ${resource} has no JSON request body in openapi.yaml`).toBeDefined();
  return ajv.compile(anchored(schema!))(body);
}

const aws = useAwsMocks();
let clock: TestClock;
let endpoint: ScriptedTokenEndpoint;
let broker: Broker;

beforeEach(() => {
  clock = new TestClock();
  endpoint = scriptedTokenEndpoint();
  endpoint.answer(() => jsonResponse({ access_token: 'at-openapi', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-openapi', scope: 'openid offline_access' }));
  const { logger } = captureLogger();
  broker = brokerOn(aws, { logger, clock, fetch: endpoint.fetch });
  handlers = {
    profiles: profilesHandler(() => broker, logger),
    authorizeUrl: authorizeUrlHandler(() => broker, logger),
    callback: callbackHandler(() => broker, logger),
    token: tokenHandler(() => broker, logger),
    jwks: jwksHandler(() => broker, logger),
    keys: keysHandler(() => broker, logger),
  };
});

let handlers: Record<'profiles' | 'authorizeUrl' | 'callback' | 'token' | 'jwks' | 'keys', (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>>;

async function call(handler: keyof typeof handlers, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const result = await handlers[handler](event);
  expectDescribed(event.httpMethod, event.resource, result);
  return result;
}

const refresh = (id: string) => apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id } });

/** Creates `id` and takes it through consent: the callback's 200 page. */
async function authorized(id: string): Promise<void> {
  expect((await call('profiles', events.putProfile(id, profileBody()))).statusCode).toBe(201);
  const start = await call('authorizeUrl', events.authorizeUrl(id));
  const state = stateOf(jsonBody<{ authorizationUrl: string }>(start).authorizationUrl);
  const page = await call('callback', events.callback(new URLSearchParams({ code: 'code-openapi', state })));
  expect(page.statusCode).toBe(200);
}

describe('openapi.yaml', () => {
  it('is OpenAPI 3.1 and every schema in it compiles', () => {
    expect(DOCUMENT.openapi).toBe('3.1.0');
    for (const name of Object.keys((DOCUMENT.components.schemas ?? {}) as Json)) {
      expect(ajv.getSchema(`openapi#/components/schemas/${name}`), name).toBeTypeOf('function');
    }
  });

  it('describes every API route that local mode serves (the API Gateway resources)', () => {
    const routes = localRoutes(() => broker, captureLogger().logger)
      .filter((route) => /^\/(profiles|callback|jwks|keys)/.test(route.resource))
      .map((route) => `${route.method} ${route.resource}`);
    const described = Object.entries(DOCUMENT.paths).flatMap(([path, operations]) => Object.keys(operations).filter((key) => key !== 'parameters').map((method) => `${method.toUpperCase()} ${path}`));
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) expect(described, route).toContain(route);
  });
});

describe('real answers of the handlers match openapi.yaml', () => {
  it('keys: the public JWKS', async () => {
    const answer = await call('jwks', apiGatewayEvent({ method: 'GET', resource: '/jwks' }));
    expect(answer.statusCode).toBe(200);
  });

  it('profiles: create, replace, read, list, delete, and their errors', async () => {
    expect((await call('profiles', events.putProfile('erp', profileBody()))).statusCode).toBe(201);
    expect((await call('profiles', events.putProfile('erp', profileBody({ scope: 'openid' })))).statusCode).toBe(200);
    expect((await call('profiles', events.putProfile('m2m', { grantType: 'client_credentials', tokenUrl: 'https://as.example/token', clientId: 'm2m', clientSecret: 'm2m-secret' }))).statusCode).toBe(201);
    expect((await call('profiles', events.putProfile('bad', { clientId: 'x', tokenUrl: 'ftp://as.example/token' }))).statusCode).toBe(400);
    expect((await call('profiles', events.putProfile('bad', '{"clientId":'))).statusCode).toBe(400);
    expect((await call('profiles', events.getProfile('erp'))).statusCode).toBe(200);
    expect((await call('profiles', events.getProfile('nobody'))).statusCode).toBe(404);
    expect((await call('profiles', events.getProfile('Not_Valid!'))).statusCode).toBe(400);
    expect(jsonBody<{ profiles: unknown[] }>(await call('profiles', events.listProfiles())).profiles).toHaveLength(2);
    expect((await call('profiles', events.deleteProfile('m2m'))).statusCode).toBe(204);
    expect((await call('profiles', events.deleteProfile('m2m'))).statusCode).toBe(404);
  });

  it('authorization: the URL, the callback\'s pages, and a client_credentials profile\'s conflict', async () => {
    await authorized('erp');
    const refused = await call('callback', events.callback(new URLSearchParams({ code: 'x', state: 'no-such-state' })));
    expect(refused.statusCode).toBe(400);
    const denied = await call('callback', events.callback(new URLSearchParams({ error: 'access_denied' })));
    expect(denied.statusCode).toBe(400);

    await call('profiles', events.putProfile('m2m', { grantType: 'client_credentials', tokenUrl: 'https://as.example/token', clientId: 'm2m', clientSecret: 'm2m-secret' }));
    expect((await call('authorizeUrl', events.authorizeUrl('m2m'))).statusCode).toBe(409);
    expect((await call('authorizeUrl', events.authorizeUrl('nobody'))).statusCode).toBe(404);
  });

  it('tokens: 200 when ready, 409 without a grant, 400 and 404 for bad requests, 503 when none can be had', async () => {
    await call('profiles', events.putProfile('fresh', profileBody()));
    expect((await call('token', events.token('fresh'))).statusCode).toBe(409);
    expect((await call('profiles', refresh('fresh'))).statusCode).toBe(409);

    await authorized('erp');
    expect((await call('token', events.token('erp', { minValiditySeconds: '300' }))).statusCode).toBe(200);
    expect((await call('token', events.token('erp', { minValiditySeconds: 'soon' }))).statusCode).toBe(400);
    expect((await call('token', events.token('nobody'))).statusCode).toBe(404);
    expect((await call('profiles', refresh('erp'))).statusCode).toBe(200);

    // The token expired and the server keeps failing for a passing reason: 503 with Retry-After.
    endpoint.answer(() => jsonResponse({ error: 'temporarily_unavailable' }, 503, { 'retry-after': '120' }));
    clock.advance(3 * 3600_000);
    const unavailable = await call('token', events.token('erp'));
    expect(unavailable.statusCode).toBe(503);
    const after = jsonBody<{ status: { state: string; lastError: unknown } }>(await call('profiles', events.getProfile('erp')));
    expect(after.status.lastError).not.toBeNull();
  });
});

describe('real answers of the key admin routes match openapi.yaml', () => {
  let kms: FakeKms;
  beforeEach(() => {
    kms = createFakeKms();
    const first = kms.addKey('ECC_NIST_P256');
    const second = kms.addKey('ECC_NIST_P256');
    const { logger } = captureLogger();
    // Two ES256 KMS keys in BROKER_SIGNING_KEYS: the first signs, the second is the rotation's next key.
    broker = brokerOn(aws, { logger, clock, fetch: endpoint.fetch, signingKeys: { kms: kms.client, keys: [{ alg: 'ES256', keyArn: first.arn }, { alg: 'ES256', keyArn: second.arn }] } });
  });
  afterEach(() => kms.restore());

  /** A key admin call; a JSON body the handler took must be one the document's request schema allows. */
  async function keysCall(method: string, resource: string, body?: unknown): Promise<APIGatewayProxyResult> {
    const answer = await call('keys', apiGatewayEvent({ method, resource, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) }));
    if (typeof body === 'object' && answer.statusCode === 200) {
      expect(requestBodyDescribed(method, resource, body), `${method} ${resource} took ${JSON.stringify(body)}`).toBe(true);
    }
    return answer;
  }
  const signingKey = (id: string) => call('keys', apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/signing-key', pathParameters: { id } }));
  const pkjwtProfile = { ...profileBody({ clientAssertionAudience: 'token_endpoint', clientAuthMethod: 'private_key_jwt' }), clientSecret: undefined };

  it('a rotation from the first key to the second: list, key material, rotate, promote, withdraw', async () => {
    expect(jsonBody<KeyRingView>(await keysCall('GET', '/keys')).keys).toEqual([]);
    expect((await call('profiles', events.putProfile('pkjwt', pkjwtProfile))).statusCode).toBe(201);

    const material = await signingKey('pkjwt');
    expect(material.statusCode).toBe(200);
    const first = jsonBody<ProfileKeyMaterial>(material).current.kid;
    expect(jsonBody<{ signingKey: { kid: string } }>(await call('profiles', events.getProfile('pkjwt'))).signingKey.kid).toBe(first);

    expect((await keysCall('POST', '/keys/rotate', {})).statusCode).toBe(200);
    expect((await keysCall('POST', '/keys/rotate')).statusCode).toBe(409); // a next key already waits
    expect(jsonBody<ProfileKeyMaterial>(await signingKey('pkjwt')).next).not.toBeNull();
    expect((await keysCall('POST', '/keys/promote', {})).statusCode).toBe(409); // published too recently

    clock.advance(331_000);
    expect((await keysCall('POST', '/keys/promote', { alg: 'ES256', graceSeconds: 300 })).statusCode).toBe(200);
    expect((await keysCall('POST', '/keys/withdraw', { kid: jsonBody<ProfileKeyMaterial>(await signingKey('pkjwt')).current.kid })).statusCode).toBe(409);
    const withdrawn = jsonBody<KeyRingView>(await keysCall('POST', '/keys/withdraw', { kid: first }));
    expect(withdrawn.keys.find((key) => key.kid === first)?.status).toBe('withdrawn');
    expect((await keysCall('POST', '/keys/withdraw', '')).statusCode).toBe(200);
    expect(jsonBody<KeyRingView>(await keysCall('GET', '/keys')).keys).toHaveLength(2);
  });

  it('bad bodies, unknown keys and profiles, a profile that signs nothing', async () => {
    // Bodies the handler refuses are bodies the document's request schemas refuse.
    const refusedBodies = [
      ['/keys/rotate', { alg: 'HS256' }],
      ['/keys/rotate', { algorithm: 'ES256' }],
      ['/keys/rotate', { keyArn: '' }],
      ['/keys/promote', { graceSeconds: 5 }],
      ['/keys/promote', { graceSeconds: 90.5 }],
      ['/keys/withdraw', { kid: 'not a kid' }],
    ] as const;
    for (const [resource, body] of refusedBodies) {
      expect((await keysCall('POST', resource, body)).statusCode, `${resource} ${JSON.stringify(body)}`).toBe(400);
      expect(requestBodyDescribed('POST', resource, body), `${resource} ${JSON.stringify(body)}`).toBe(false);
    }
    expect((await keysCall('POST', '/keys/rotate', '{"alg":')).statusCode).toBe(400);
    expect((await keysCall('POST', '/keys/withdraw', { kid: 'no-such-kid' })).statusCode).toBe(400);
    expect((await signingKey('nobody')).statusCode).toBe(404);
    expect((await signingKey('Not_Valid!')).statusCode).toBe(400);
    await call('profiles', events.putProfile('erp', profileBody()));
    expect((await signingKey('erp')).statusCode).toBe(409);
  });

  it('a broker without signing keys: an empty list, a refused rotation and profile (400), and 409 where none are wired in', async () => {
    const { logger } = captureLogger();
    broker = brokerOn(aws, { logger, clock, fetch: endpoint.fetch });
    expect(jsonBody<KeyRingView>(await keysCall('GET', '/keys')).keys).toEqual([]);
    expect((await keysCall('POST', '/keys/rotate')).statusCode).toBe(400);
    // A private_key_jwt profile is refused where no key can sign its assertions.
    expect((await call('profiles', events.putProfile('pkjwt', pkjwtProfile))).statusCode).toBe(400);

    // A broker composed without the signing keys' use cases at all (the key routes read nothing else).
    broker = new Broker({ store: {} as ProfileStore, vault: {} as SecretVault, clock: clock.read, logger, callbackUrl: CALLBACK_URL });
    for (const [method, resource] of [['GET', '/keys'], ['POST', '/keys/rotate'], ['POST', '/keys/promote'], ['POST', '/keys/withdraw']] as const) {
      const refused = await keysCall(method, resource);
      expect(refused.statusCode).toBe(409);
      expect(jsonBody<{ message: string }>(refused).message).toContain('no signing keys configured');
    }
  });
});

afterAll(() => {
  // The answers above covered these operations; a described status nobody produced is not an error
  // (500 is hard to provoke), but every operation of a route that exists was exercised.
  const operations = new Set([...exercised].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
  for (const expected of ['GET /profiles', 'GET /profiles/{id}', 'PUT /profiles/{id}', 'DELETE /profiles/{id}', 'GET /profiles/{id}/authorize-url', 'GET /callback', 'GET /profiles/{id}/token', 'POST /profiles/{id}/refresh', 'GET /jwks', 'GET /keys', 'POST /keys/rotate', 'POST /keys/promote', 'POST /keys/withdraw', 'GET /profiles/{id}/signing-key']) {
    if (!operations.has(expected)) throw new Error(`no answer of ${expected} was checked against openapi.yaml`);
  }
});
