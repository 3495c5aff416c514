/**
 * Each Lambda handler, run through its routes and its races on the mocked AWS clients, sends only the
 * calls lib/functions.ts lists for its function (the list the stack's IAM roles are built from), on the
 * items and secrets listed there. The races are the reason for the less obvious grants: a profile deleted
 * while the callback, a token request or the scheduled job stores new tokens has its re-created secrets
 * deleted by that function. Every broker has signing keys on a mocked KMS backed by real keys, as the
 * stack configures them (`BROKER_SIGNING_KEYS`): the signing calls of `private_key_jwt` are attributed too.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createHandler as createAuthorizeUrlHandler } from '../../../lambdas/authorize-url.js';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import { createHandler as createProfilesHandler } from '../../../lambdas/profiles.js';
import { createHandler as createRefreshHandler } from '../../../lambdas/refresh.js';
import { createHandler as createTokenHandler } from '../../../lambdas/token.js';
import { createHandler as createJwksHandler } from '../../../lambdas/jwks.js';
import { createHandler as createKeysHandler } from '../../../lambdas/keys.js';
import { KEY_RING_KEY } from '../../../lib/keys/dynamodb-key-ring-store.js';
import { createFakeKms } from '../../support/fake-kms.js';
import { callTargets, functionKeys, ITEM_KEY_PREFIXES, type FunctionKey } from '../../../lib/functions.js';
import { apiEvent } from '../support/events.js';
import { TestClock, brokerOn, captureLogger, jsonResponse, profileBody, stateOf, useAwsMocks, type CapturedLog } from '../support/harness.js';

const aws = useAwsMocks();
const kms = createFakeKms();
/** The environment's signing keys: the one in use, and a next one for a rotation. */
const signingKeys = [kms.addKey('ECC_NIST_P256'), kms.addKey('ECC_NIST_P256')].map((key) => ({ alg: 'ES256' as const, keyArn: key.arn }));
afterAll(() => kms.restore());
let log: CapturedLog;
let clock: TestClock;

/** The token endpoint: answers tokens; `during` runs inside the next grant (a concurrent request). */
let during: (() => Promise<void>) | undefined;
const tokens = () => ({ access_token: `at-${clock.now}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${clock.now}`, scope: 'openid offline_access' });
const fetchFake = (async () => {
  const run = during;
  during = undefined;
  if (run) await run();
  return jsonResponse(tokens());
}) as unknown as typeof fetch;

/** The calls each function made, as `action target` (e.g. `dynamodb:DeleteItem pending`). */
let made: Record<FunctionKey, Set<string>>;
/** Who made each call so far: an inner `as` (a concurrent request) claims its calls before the outer one ends. */
let owners: { ddb: (FunctionKey | undefined)[]; sm: (FunctionKey | undefined)[]; kms: (FunctionKey | undefined)[] };

const DDB_ACTIONS: Record<string, string> = {
  GetCommand: 'dynamodb:GetItem',
  PutCommand: 'dynamodb:PutItem',
  UpdateCommand: 'dynamodb:UpdateItem',
  DeleteCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query',
};

function describeDdb(command: { constructor: { name: string }; input: Record<string, unknown> }): string {
  const action = DDB_ACTIONS[command.constructor.name] ?? `unknown ${command.constructor.name}`;
  if (action === 'dynamodb:Query') return `${action} ${String(command.input.IndexName ?? 'table')}`;
  const key = (command.input.Key ?? command.input.Item) as { pk?: string } | undefined;
  const pk = key?.pk ?? '';
  const kind = Object.entries(ITEM_KEY_PREFIXES).find(([, prefix]) => pk.startsWith(prefix))?.[0] ?? `unknown key ${pk}`;
  return `${action} ${kind}`;
}

function describeSm(command: { constructor: { name: string }; input: Record<string, unknown> }): string {
  const name = String(command.input.SecretId ?? command.input.Name ?? '');
  return `secretsmanager:${command.constructor.name.replace(/Command$/, '')} ${name.split('/').pop()}`;
}

/** Runs `act` as function `fn`: the calls made meanwhile, except those an inner `as` claimed, are `fn`'s. */
async function as<T>(fn: FunctionKey, act: () => Promise<T>): Promise<T> {
  const start = { ddb: aws.ddb.calls().length, sm: aws.sm.mock.calls().length, kms: kms.mock.calls().length };
  try {
    return await act();
  } finally {
    const ddbCalls = aws.ddb.calls();
    const smCalls = aws.sm.mock.calls();
    for (let i = start.ddb; i < ddbCalls.length; i++) {
      if (owners.ddb[i] !== undefined) continue;
      owners.ddb[i] = fn;
      made[fn].add(describeDdb(ddbCalls[i]!.args[0] as never));
    }
    for (let i = start.sm; i < smCalls.length; i++) {
      if (owners.sm[i] !== undefined) continue;
      owners.sm[i] = fn;
      made[fn].add(describeSm(smCalls[i]!.args[0] as never));
    }
    const kmsCalls = kms.mock.calls();
    for (let i = start.kms; i < kmsCalls.length; i++) {
      if (owners.kms[i] !== undefined) continue;
      owners.kms[i] = fn;
      made[fn].add(`kms:${(kmsCalls[i]!.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, '')} signing-key`);
    }
  }
}

/** Handlers on a fresh broker each time: a cold container per request. */
const handlers = () => {
  const broker = brokerOn(aws, { logger: log.logger, clock, fetch: fetchFake, signingKeys: { keys: signingKeys, kms: kms.client } });
  return {
    profiles: createProfilesHandler(() => broker, log.logger),
    authorizeUrl: createAuthorizeUrlHandler(() => broker, log.logger),
    callback: createCallbackHandler(() => broker, log.logger),
    token: createTokenHandler(() => broker, log.logger),
    refresh: createRefreshHandler(() => broker, log.logger),
    jwks: createJwksHandler(() => broker, log.logger),
    keys: createKeysHandler(() => broker, log.logger),
  };
};

const put = (id: string, body: Record<string, unknown>) =>
  as('profiles', () => handlers().profiles(apiEvent({ method: 'PUT', resource: '/profiles/{id}', pathParameters: { id }, body: JSON.stringify(body) })));
const remove = (id: string) => as('profiles', () => handlers().profiles(apiEvent({ method: 'DELETE', resource: '/profiles/{id}', pathParameters: { id } })));
const token = (id: string) => as('token', () => handlers().token(apiEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id } })));
const keyRoute = (method: 'GET' | 'POST', resource: string, body?: unknown, id?: string) =>
  as('keys', () =>
    handlers().keys(apiEvent({ method, resource, ...(id ? { pathParameters: { id } } : {}), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })),
  );
/** The key ring gone (keys configured after the profiles were made): the next signing function makes the first key. */
const forgetRing = () => aws.table.items.delete(`${KEY_RING_KEY.pk}|${KEY_RING_KEY.sk}`);
const scheduledRun = () => as('refresh', () => handlers().refresh({}, { getRemainingTimeInMillis: () => 60_000 }));

/** Authorizes `id` through the authorize-url and callback handlers; `meanwhile` runs during the code exchange. */
async function authorizeThroughHandlers(id: string, meanwhile?: () => Promise<void>) {
  const started = await as('authorizeUrl', () =>
    handlers().authorizeUrl(apiEvent({ method: 'GET', resource: '/profiles/{id}/authorize-url', pathParameters: { id } })),
  );
  const state = stateOf((JSON.parse(started.body) as { authorizationUrl: string }).authorizationUrl);
  during = meanwhile;
  return as('callback', () => handlers().callback(apiEvent({ method: 'GET', resource: '/callback', query: { code: 'code-1', state } })));
}

beforeEach(() => {
  log = captureLogger();
  clock = new TestClock();
  during = undefined;
  made = Object.fromEntries(functionKeys().map((key) => [key, new Set<string>()])) as Record<FunctionKey, Set<string>>;
  owners = { ddb: [], sm: [], kms: [] };
});

/** What lib/functions.ts allows `fn`, in the same notation. */
const listed = (fn: FunctionKey) =>
  new Set(
    callTargets(fn).map((t) => {
      const r = t.resource;
      return `${t.action} ${r.kind === 'item' ? r.item : r.kind === 'index' ? r.index : r.kind === 'secret' ? r.secret : r.kind === 'signing-key' ? 'signing-key' : 'default'}`;
    }),
  );

const expectWithinList = () => {
  for (const [fn, calls] of Object.entries(made) as [FunctionKey, Set<string>][]) {
    expect([...calls].filter((c) => !listed(fn).has(c)), `${fn} sent calls lib/functions.ts does not list`).toEqual([]);
  }
};

/** Each scenario uses its own profile ids, so that all of them can run on one table. */
const scenarios = {
  async authorizationCodeLife() {
    await put('erp', profileBody());
    await put('erp', profileBody({ scope: 'openid offline_access api.read' }));
    expect((await authorizeThroughHandlers('erp')).statusCode).toBe(200);
    clock.advance(3_590_000);
    expect((await token('erp')).statusCode).toBe(200);
    clock.advance(3_600_000);
    await scheduledRun();
    await as('profiles', () => handlers().profiles(apiEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id: 'erp' } })));
    await as('profiles', () => handlers().profiles(apiEvent({ method: 'GET', resource: '/profiles' })));
    await as('profiles', () => handlers().profiles(apiEvent({ method: 'GET', resource: '/profiles/{id}', pathParameters: { id: 'erp' } })));
    // An authorization started and never finished: DELETE removes it too.
    await as('authorizeUrl', () => handlers().authorizeUrl(apiEvent({ method: 'GET', resource: '/profiles/{id}/authorize-url', pathParameters: { id: 'erp' } })));
    expect((await remove('erp')).statusCode).toBe(204);
  },
  async clientCredentials() {
    const machine = profileBody({ grantType: 'client_credentials', authorizationUrl: undefined, scope: 'api.read' });
    await put('m2m', machine);
    expect((await token('m2m')).statusCode).toBe(200);
    await put('m2m-2', machine);
    await scheduledRun();
    await put('m2m-3', machine);
    await as('profiles', () => handlers().profiles(apiEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id: 'm2m-3' } })));
  },
  async deletedDuringCallback() {
    await put('cb', profileBody());
    const page = await authorizeThroughHandlers('cb', async () => {
      expect((await remove('cb')).statusCode).toBe(204);
    });
    expect(page.statusCode).toBe(400);
  },
  async deletedDuringRefresh() {
    await put('tk', profileBody());
    await authorizeThroughHandlers('tk');
    clock.advance(3_590_000);
    during = async () => void (await remove('tk'));
    await token('tk');
    await put('job', profileBody());
    await authorizeThroughHandlers('job');
    clock.advance(3_600_000);
    during = async () => void (await remove('job'));
    await scheduledRun();
  },
  async privateKeyJwt() {
    const signed = { clientSecret: undefined, clientAuthMethod: 'private_key_jwt', clientAssertionAudience: 'token_endpoint' };
    const machine = profileBody({ ...signed, grantType: 'client_credentials', authorizationUrl: undefined, scope: 'api.read' });
    // The first private_key_jwt profile brings the first key into the ring (GetPublicKey, a certificate signed).
    expect((await put('pkj', machine)).statusCode).toBe(201);
    expect((await token('pkj')).statusCode).toBe(200);
    expect((await as('jwks', () => handlers().jwks(apiEvent({ method: 'GET', resource: '/jwks' })))).statusCode).toBe(200);
    expect((await keyRoute('GET', '/keys')).statusCode).toBe(200);
    expect((await keyRoute('GET', '/profiles/{id}/signing-key', undefined, 'pkj')).statusCode).toBe(200);
    expect((await keyRoute('POST', '/keys/rotate', {})).statusCode).toBe(200);
    // Whichever signing function finds no key makes the first one: the token function, the scheduled job, the callback.
    forgetRing();
    await put('pkj-2', machine);
    forgetRing();
    expect((await token('pkj-2')).statusCode).toBe(200);
    await put('pkj-3', machine);
    forgetRing();
    await scheduledRun();
    await put('pkj-code', profileBody(signed));
    forgetRing();
    expect((await authorizeThroughHandlers('pkj-code')).statusCode).toBe(200);
  },
};

/** The calls a scenario must have made, beyond staying within the list. */
interface Expected {
  /** Calls each of these functions made (among others). */
  made?: Partial<Record<FunctionKey, string[]>>;
  /** Every call each of these functions made. */
  madeOnly?: Partial<Record<FunctionKey, string[]>>;
  /** Calls these functions never made. */
  never?: Partial<Record<FunctionKey, RegExp>>;
}

/** What every signing function does for private_key_jwt: signs in KMS, with the key the ring names. */
const SIGNING_CALLS = ['kms:Sign signing-key', 'kms:GetPublicKey signing-key', 'dynamodb:PutItem keyRing'];
const SIGNING_FUNCTIONS = ['profiles', 'token', 'refresh', 'callback', 'keys'] as const;

const cases: { title: string; scenario: keyof typeof scenarios; expected: Expected }[] = [
  {
    title: 'an authorization-code profile\'s life: put, authorize, token, refresh, refresh-now, list, delete',
    scenario: 'authorizationCodeLife',
    expected: {
      madeOnly: { authorizeUrl: ['dynamodb:GetItem profile', 'dynamodb:PutItem pending'] },
      made: {
        callback: ['dynamodb:DeleteItem pending'],
        token: ['secretsmanager:PutSecretValue token-set'],
        refresh: ['dynamodb:Query due'],
        profiles: ['dynamodb:DeleteItem pending'],
      },
    },
  },
  {
    title: 'a client-credentials profile gets its first token set from the token function, the scheduled job or refresh-now',
    scenario: 'clientCredentials',
    expected: {
      made: { token: ['secretsmanager:CreateSecret token-set'], refresh: ['secretsmanager:CreateSecret token-set'], profiles: ['secretsmanager:CreateSecret token-set'] },
    },
  },
  {
    title: 'a profile deleted during the callback\'s code exchange: the callback deletes the token set it re-created, never a client secret',
    scenario: 'deletedDuringCallback',
    expected: { made: { callback: ['secretsmanager:DeleteSecret token-set'] }, never: { callback: /DeleteSecret client-secret/ } },
  },
  {
    title: 'a profile deleted during a refresh by the token function or the scheduled job: that function deletes the token set it re-created, never a client secret',
    scenario: 'deletedDuringRefresh',
    expected: {
      made: { token: ['secretsmanager:DeleteSecret token-set'], refresh: ['secretsmanager:DeleteSecret token-set'] },
      never: { token: /DeleteSecret client-secret/, refresh: /DeleteSecret client-secret/ },
    },
  },
  {
    title: 'a private_key_jwt profile: every signing function signs in KMS, the JWKS function only reads the ring',
    scenario: 'privateKeyJwt',
    expected: {
      made: Object.fromEntries(SIGNING_FUNCTIONS.map((fn) => [fn, SIGNING_CALLS])),
      madeOnly: { jwks: ['dynamodb:GetItem keyRing'] },
      never: { authorizeUrl: /^kms:|keyRing/ },
    },
  },
];

describe('the calls each handler sends are the ones lib/functions.ts lists for its function', () => {
  for (const { title, scenario, expected } of cases) {
    it(title, async () => {
      await scenarios[scenario]();

      expectWithinList();
      for (const [fn, calls] of Object.entries(expected.made ?? {}) as [FunctionKey, string[]][]) {
        for (const call of calls) expect(made[fn], fn).toContain(call);
      }
      for (const [fn, calls] of Object.entries(expected.madeOnly ?? {}) as [FunctionKey, string[]][]) {
        expect([...made[fn]].sort(), fn).toEqual([...calls].sort());
      }
      for (const [fn, pattern] of Object.entries(expected.never ?? {}) as [FunctionKey, RegExp][]) {
        expect([...made[fn]].filter((call) => pattern.test(call)), fn).toEqual([]);
      }
    });
  }

  it('every call lib/functions.ts lists is sent in these scenarios: no grant without a use (status events: lib/events.ts, not mocked here)', async () => {
    for (const run of Object.values(scenarios)) await run();

    expectWithinList();
    for (const [fn, calls] of Object.entries(made) as [FunctionKey, Set<string>][]) {
      expect([...listed(fn)].filter((c) => !calls.has(c) && !c.startsWith('events:PutEvents')), fn).toEqual([]);
    }
  });
});
