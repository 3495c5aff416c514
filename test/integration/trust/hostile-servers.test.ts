/**
 * Hostile and broken authorization servers against the Lambda handlers under the cloud URL policy
 * (docs/api.md). The server is `hostile` (test/support),
 * reached as an https: host; each test asserts what it RECEIVED as well as what the broker answered and kept.
 */
import { describe, expect, it } from 'vitest';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import type { TokenResponse } from '../../../lib/broker.js';
import { events, header, jsonBody } from '../../support/api-events.js';
import { ENDLESS, issuingTokens, json, type Responder } from '../../support/hostile-server.js';
import { snapshotSecrets } from '../../support/store-snapshot.js';
import { env, s } from '../lifecycle/fixture.js';
import { HOSTILE, hostile, useTrustHooks } from './support.js';

useTrustHooks();

const CLIENT_SECRET = 'hostile-test-client-secret-0123456789';

function hostileProfileBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    authorizationUrl: `${HOSTILE}/authorize`,
    tokenUrl: `${HOSTILE}/token`,
    clientId: 'hostile-client',
    clientSecret: CLIENT_SECRET,
    scope: 'openid offline_access',
    ...overrides,
  };
}

/** A profile on the hostile server, authorized with the tokens `authorize` issues (any code is accepted). */
async function authorizedOnHostile(label: string, authorize: Responder): Promise<string> {
  const id = s.newId(label);
  await s.createProfile(id, hostileProfileBody());
  hostile.route('/token', authorize);
  const { authorizationUrl } = await s.broker.createAuthorizationUrl(id);
  await s.broker.completeAuthorization(new URLSearchParams({ code: `code-${label}-0123456789`, state: new URL(authorizationUrl).searchParams.get('state')! }));
  return id;
}

/** PutSecretValue calls on a profile's token set so far. */
function tokenSetWrites(id: string): number {
  return env.secrets.mock.calls().filter((call) => {
    const command = call.args[0] as { constructor: { name: string }; input: { SecretId?: string } };
    return command.constructor.name === 'PutSecretValueCommand' && command.input.SecretId === s.tokenSetName(id);
  }).length;
}

const refreshGrants = () => hostile.receivedAt('/token').filter((r) => r.form.get('grant_type') === 'refresh_token').length;

describe('a consumer that asks more than the server gives', () => {
  it('looping on minValiditySeconds=3600 against 75 s tokens: one refresh per 30 s across instances, 200 with the freshest token', async () => {
    // Prepare
    const id = await authorizedOnHostile('loop', issuingTokens(75));
    const tokens = issuingTokens(75);
    hostile.route('/token', tokens);
    const instances = [s.tokenHandler(s.newBroker()), s.tokenHandler(s.newBroker())];
    const writesBefore = tokenSetWrites(id);
    s.clock.advance(31_000);

    // Act: 20 requests, one a second, alternating between two instances
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const at = s.clock();
      answers.push({ answer: await instances[i % 2]!(events.token(id, { minValiditySeconds: '3600' })), at });
      s.clock.advance(1000);
    }

    // Assess: the server was asked once in the first 30 s window after 31 s, once more in the next
    expect(tokens.issued).toBe(1);
    expect(refreshGrants()).toBe(1);
    expect(tokenSetWrites(id) - writesBefore).toBe(1);
    for (const { answer, at } of answers) {
      expect(answer.statusCode, answer.body).toBe(200);
      const body = jsonBody<TokenResponse>(answer);
      expect(body.expires_in).toBeGreaterThan(0);
      expect(body.expires_in).toBeLessThanOrEqual(75);
      // expires_in tells the truth: it matches expires_at on the broker's clock, give or take a second.
      expect(Math.abs(Date.parse(body.expires_at) - at - body.expires_in * 1000)).toBeLessThan(2000);
    }

    // Act / Assess: 20 more seconds (past the window) and one more refresh, no more
    for (let i = 0; i < 20; i++) {
      await instances[i % 2]!(events.token(id, { minValiditySeconds: '3600' }));
      s.clock.advance(1000);
    }
    expect(tokens.issued).toBe(2);
    expect(tokenSetWrites(id) - writesBefore).toBe(2);
  });

  it('a server answering expires_in: 0 is asked at most once per 30 s, by token requests and the schedule alike', async () => {
    // Prepare
    const id = await authorizedOnHostile('zero', issuingTokens(0));
    const tokens = issuingTokens(0);
    hostile.route('/token', tokens);
    const authorized = await s.record(id);
    // Scheduled as a 60 s token: max(30 s, 10 % of 60 s) after it was obtained (obtained a moment before it was stored).
    const scheduledIn = Date.parse(authorized.status.nextRefreshAt!) - Date.parse(authorized.status.lastAuthorizedAt!);
    expect(scheduledIn).toBeGreaterThan(29_000);
    expect(scheduledIn).toBeLessThanOrEqual(30_000);

    // Act: a request every second for a minute, and a scheduled run every 10 s
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const answer = await s.tokenHandler()(events.token(id));
      statuses.push(answer.statusCode);
      if (answer.statusCode === 503) expect(Number(header(answer, 'retry-after'))).toBeLessThanOrEqual(30);
      if (i % 10 === 0) await s.scheduledRun();
      s.clock.advance(1000);
    }

    // Assess: a token that is expired gets 503 as before; the server saw two grants in the minute
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(tokens.issued).toBeLessThanOrEqual(2);
    expect(tokens.issued).toBeGreaterThanOrEqual(1);
  });
});

describe('a server that asks the broker to wait for ever', () => {
  it.each(['99999999999', '9'.repeat(400)])('Retry-After: %s is honoured for an hour at most, and an hour at most is sent on', async (retryAfter) => {
    // Prepare
    const id = await authorizedOnHostile('retry-after', issuingTokens(3600));
    s.clock.advance(3_000_000 + 1000);
    hostile.route('/token', json(503, { error: 'temporarily_unavailable' }, { 'retry-after': retryAfter }));

    // Act
    const run = await s.scheduledRun();
    const answer = await s.tokenHandler()(events.token(id, { minValiditySeconds: '3600' }));

    // Assess
    expect(run.outcomes).toEqual({ failing: 1 });
    const record = await s.record(id);
    expect(record.status.state).toBe('refresh_failing');
    expect(Date.parse(record.status.nextRefreshAt!) - s.clock()).toBeLessThanOrEqual(3600_000);
    expect(Date.parse(record.status.nextRefreshAt!) - s.clock()).toBeGreaterThan(3000_000);
    expect(answer.statusCode).toBe(503);
    expect(Number(header(answer, 'retry-after'))).toBeLessThanOrEqual(3600);
    expect(refreshGrants()).toBe(1);
  });
});

describe('answers the broker refuses', () => {
  it('a token response that never ends is cut off past 64 KiB: invalid_response, nothing stored, the connection dropped', async () => {
    // Prepare
    const id = await authorizedOnHostile('endless', issuingTokens(3600));
    const secretsBefore = snapshotSecrets(env.secrets);
    s.clock.advance(3_000_000 + 1000);
    hostile.route('/token', ENDLESS);

    // Act
    const run = await s.scheduledRun();

    // Assess
    expect(run.outcomes).toEqual({ failing: 1 });
    const record = await s.record(id);
    expect(record.status.lastError).toMatchObject({ code: 'invalid_response', message: expect.stringMatching(/larger than 64 KiB/) });
    expect(snapshotSecrets(env.secrets)).toEqual(secretsBefore);
    await expect.poll(() => hostile.streams[0]?.closedByClient, { timeout: 5000 }).toBe(true);
    // What the broker read is bounded; the server could have gone on for ever.
    expect(refreshGrants()).toBe(1);
  });

  it('an HTML 200 is invalid_response with a fixed sentence: nothing of the page reaches the status, the logs or an answer', async () => {
    // Prepare
    const id = await authorizedOnHostile('html', issuingTokens(3600));
    s.clock.advance(3_000_000 + 1000);
    const marker = 'PAGE-MARKER-cf8e1d2b';
    hostile.route('/token', (_, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><h1>Sign in</h1><script>steal()</script><p>${marker}</p>`);
    });

    // Act
    await s.scheduledRun();
    const view = await s.profilesHandler()(events.getProfile(id));

    // Assess
    expect((await s.record(id)).status.lastError).toMatchObject({ code: 'invalid_response', message: 'The token endpoint did not answer with JSON.' });
    expect(view.body).not.toContain(marker);
    expect(s.logs.text()).not.toContain(marker);
  });
});

describe('a discovery document naming a file: authorization endpoint', () => {
  it('is refused: authorize-url answers 409 and never hands out the file: URL; the server saw only discovery requests', async () => {
    // Prepare
    hostile.route(
      '/.well-known/openid-configuration',
      json(200, { issuer: HOSTILE, authorization_endpoint: 'file:///C:/Users/Public/setup.exe', token_endpoint: `${HOSTILE}/token` }),
    );
    const id = s.newId('file-endpoint');
    await s.createProfile(id, { issuer: HOSTILE, authorizationUrl: undefined, tokenUrl: undefined, clientId: 'hostile-client', clientSecret: CLIENT_SECRET });

    // Act
    const answer = await s.newBroker().createAuthorizationUrl(id).then(
      (ok) => ({ ok }),
      (error: unknown) => ({ error }),
    );

    // Assess
    expect(answer).toMatchObject({ error: { code: 'conflict', status: 409 } });
    expect(String((answer as { error: Error }).error.message)).toMatch(/authorization_endpoint that the broker does not accept/);
    expect(String((answer as { error: Error }).error.message)).not.toContain('setup.exe');
    expect(hostile.received.every((r) => r.method === 'GET' && r.url.startsWith('/.well-known/'))).toBe(true);
    expect(await s.store.listProfiles()).toHaveLength(1);
  });
});

describe('small holes', () => {
  it('a public client without PKCE is refused (400) and nothing is stored or sent', async () => {
    // Prepare
    const id = s.newId('public');
    const secretsBefore = snapshotSecrets(env.secrets);

    // Act
    const answer = await s.profilesHandler()(events.putProfile(id, hostileProfileBody({ clientAuthMethod: 'none', clientSecret: undefined, usePkce: false })));

    // Assess
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringMatching(/usePkce must stay true when clientAuthMethod is "none"/) });
    expect(await s.store.getProfile(id)).toBeUndefined();
    expect(snapshotSecrets(env.secrets)).toEqual(secretsBefore);
    expect(hostile.received).toEqual([]);
  });

  it('a callback error uses up its state: a code for the same state afterwards is refused and never exchanged', async () => {
    // Prepare
    const id = s.newId('error-then-code');
    await s.createProfile(id, hostileProfileBody());
    hostile.route('/token', issuingTokens(3600));
    const { authorizationUrl } = await s.broker.createAuthorizationUrl(id);
    const state = new URL(authorizationUrl).searchParams.get('state')!;
    const callback = createCallbackHandler(() => s.newBroker(), s.logger);

    // Act
    const denied = await callback(events.callback(new URLSearchParams({ error: 'access_denied', state })));
    const code = await callback(events.callback(new URLSearchParams({ code: 'late-code-0123456789', state })));

    // Assess
    expect(denied.statusCode).toBe(400);
    expect(code.statusCode).toBe(400);
    expect(code.body).toMatch(/unknown or was already completed/);
    expect(hostile.receivedAt('/token')).toEqual([]);
    expect((await s.record(id)).status).toMatchObject({ state: 'authorization_required', lastError: { code: 'access_denied' } });
  });

  it('the Lambda runtime API is no token URL in the cloud', async () => {
    const answer = await s.profilesHandler()(events.putProfile(s.newId('runtime-api'), hostileProfileBody({ tokenUrl: 'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next' })));
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: 'invalid_request', message: expect.stringMatching(/tokenUrl must use https:/) });
  });
});
