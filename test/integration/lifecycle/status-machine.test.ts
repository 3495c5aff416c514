/**
 * The status machine of docs/api.md with the one classifier: a revoked grant,
 * passing failures with backoff and Retry-After, an expired held token, a grant without refresh token, and
 * `POST /profiles/{id}/refresh`. Time is injected: the broker's clock is moved, nothing waits for expiry.
 */
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { apiGatewayEvent, events, header, jsonBody } from '../../support/api-events.js';
import { env, s, useLifecycleHooks, type Scenario } from './fixture.js';

useLifecycleHooks();

const refreshEvent = (id: string) =>
  apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id } });

const transitions = (s: Scenario, id: string) => s.changes(id).map(({ from, to }) => [from, to]);

describe('a grant revoked at the server', () => {
  it('→ authorization_required with one event, then no grant attempt until a person re-authorizes; re-authorizing → ready', async () => {
    const id = s.newId('revoked');
    const login = 'revoked-user';
    await s.createProfile(id);
    await s.authorize(id, login);
    const authorized = await s.record(id);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    expect(await env.server.revokeGrantsFor(env.clients.code.clientId, login)).toBeGreaterThanOrEqual(1);

    const run = await s.scheduledRun();
    expect(run.outcomes).toEqual({ authorization_required: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(1);

    const revoked = await s.record(id);
    expect(revoked.status).toMatchObject({ state: 'authorization_required', nextRefreshAt: null, consecutiveFailures: 1 });
    expect(revoked.status.lastError?.code).toBe('invalid_grant');
    expect(revoked.lease).toBeNull();
    expect(transitions(s, id)).toEqual([
      ['authorization_required', 'ready'],
      ['ready', 'authorization_required'],
    ]);
    expect(s.changes(id)[1]?.lastError?.code).toBe('invalid_grant');
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'refresh failed', profileId: id, reason: 'invalid_grant' }));

    // Nothing retries against a server that said no: token requests on any instance, scheduled runs
    // (even much later) and an administrator's refresh all answer without a grant attempt.
    for (const broker of [s.broker, s.newBroker()]) {
      for (const query of [undefined, { minValiditySeconds: '0' }, { minValiditySeconds: '3600' }]) {
        const answer = await s.tokenHandler(broker)(events.token(id, query));
        expect(answer.statusCode, answer.body).toBe(409);
        expect(jsonBody(answer)).toMatchObject({ error: 'authorization_required' });
      }
    }
    s.clock.advance(24 * 60 * 60_000);
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    expect(await s.scheduledRun(s.newBroker())).toMatchObject({ due: 0, attempted: 0 });
    const admin = await s.profilesHandler()(refreshEvent(id));
    expect(admin.statusCode, admin.body).toBe(409);
    expect(jsonBody(admin)).toMatchObject({ error: 'authorization_required' });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.tokenRequests).toHaveLength(1);
    expect(s.changes(id)).toHaveLength(2);

    // A person authorizes again: ready, and refreshing works again.
    await s.authorize(id, login);
    const reauthorized = await s.record(id);
    expect(reauthorized.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(transitions(s, id)).toEqual([
      ['authorization_required', 'ready'],
      ['ready', 'authorization_required'],
      ['authorization_required', 'ready'],
    ]);
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(await env.server.introspect(jsonBody<TokenResponse>(served).access_token)).toBe(true);

    s.clock.set(Date.parse(reauthorized.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(2);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(1);
    expect((await s.record(id)).status.state).toBe('ready');

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

describe('passing failures', () => {
  it('503, then 429 with Retry-After: 120 → refresh_failing with backoff honoured, then back to ready with a recovery event', async () => {
    const id = s.newId('flaky');
    await s.createProfile(id);
    await s.authorize(id, 'flaky-user');
    const authorized = await s.record(id);
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();

    // 503
    env.server.failTokenEndpoint([{ status: 503, body: 'upstream unavailable' }]);
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    let record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'refresh_failing', consecutiveFailures: 1, accessTokenExpiresAt: before.expiresAt });
    expect(record.status.lastError?.code).toBe('server_error');
    expect(record.lease).toBeNull();
    const firstBackoff = Date.parse(record.status.nextRefreshAt!) - Date.parse(record.status.lastError!.at);
    expect(firstBackoff).toBeGreaterThanOrEqual(24_000); // 30 s ± 20 % jitter
    expect(firstBackoff).toBeLessThanOrEqual(36_000);
    expect(transitions(s, id)).toEqual([
      ['authorization_required', 'ready'],
      ['ready', 'refresh_failing'],
    ]);

    // Backing off: a scheduled run before nextRefreshAt makes no attempt; nor does a token request that
    // needs more than the held token has (503 with Retry-After); one the held token satisfies is served.
    s.clock.set(Date.parse(record.status.nextRefreshAt!) - 2000);
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    const needy = await s.tokenHandler(s.newBroker())(events.token(id, { minValiditySeconds: '3600' }));
    expect(needy.statusCode, needy.body).toBe(503);
    expect(jsonBody(needy)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(header(needy, 'retry-after'))).toBeGreaterThanOrEqual(1);
    const modest = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(modest.statusCode, modest.body).toBe(200);
    expect(jsonBody<TokenResponse>(modest).access_token).toBe(before.accessToken);
    expect(env.server.grantCount('refresh_token')).toBe(1);

    // 429 with Retry-After: 120 once the backoff is over.
    s.clock.set(Date.parse(record.status.nextRefreshAt!) + 1000);
    env.server.failTokenEndpoint([
      {
        status: 429,
        body: JSON.stringify({ error: 'temporarily_unavailable', error_description: 'too many requests' }),
        headers: { 'retry-after': '120' },
      },
    ]);
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(2);
    record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'refresh_failing', consecutiveFailures: 2 });
    expect(record.status.lastError?.code).toBe('temporarily_unavailable');
    const failedAt = Date.parse(record.status.lastError!.at);
    const retryAt = Date.parse(record.status.nextRefreshAt!);
    expect(retryAt - failedAt).toBeGreaterThanOrEqual(120_000);
    // refresh_failing → refresh_failing is no change: no event.
    expect(s.changes(id)).toHaveLength(2);

    // Retry-After is honoured: 5 s before it, nothing is attempted.
    s.clock.set(retryAt - 5000);
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    expect(env.server.grantCount('refresh_token')).toBe(2);

    // After it, the server answers normally: ready, failures reset, recovery signalled.
    s.clock.set(retryAt + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(3);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'ready', consecutiveFailures: 0, lastError: null });
    expect(Date.parse(record.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    expect(transitions(s, id)).toEqual([
      ['authorization_required', 'ready'],
      ['ready', 'refresh_failing'],
      ['refresh_failing', 'ready'],
    ]);
    expect(s.changes(id)[2]?.lastError).toBeNull();
    const held = await s.heldTokens(id);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.introspect(held.accessToken)).toBe(true);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it('the held token already expired + 503 → expired; token requests answer 503; recovery → ready', async () => {
    const id = s.newId('expired');
    await s.createProfile(id);
    await s.authorize(id, 'expired-user');
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(before.expiresAt) + 60_000);
    env.server.resetCounters();

    env.server.failTokenEndpoint([{ status: 503, body: '' }]);
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    let record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'expired', consecutiveFailures: 1, accessTokenExpiresAt: before.expiresAt });
    expect(record.status.lastError?.code).toBe('server_error');
    expect(transitions(s, id)).toEqual([
      ['authorization_required', 'ready'],
      ['ready', 'expired'],
    ]);

    const answer = await s.tokenHandler(s.newBroker())(events.token(id, { minValiditySeconds: '0' }));
    expect(answer.statusCode, answer.body).toBe(503);
    expect(jsonBody(answer)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(header(answer, 'retry-after'))).toBeGreaterThanOrEqual(1);
    expect(env.server.grantCount('refresh_token')).toBe(1);

    s.clock.set(Date.parse(record.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'ready', consecutiveFailures: 0, lastError: null });
    expect(transitions(s, id).at(-1)).toEqual(['expired', 'ready']);
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(await env.server.introspect(jsonBody<TokenResponse>(served).access_token)).toBe(true);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

describe('no refresh token issued', () => {
  it('a scope without offline_access → ready, with lastError no_refresh_token naming offline_access', async () => {
    const id = s.newId('no-offline');
    await s.createProfile(id, { scope: 'openid' });
    await s.authorize(id, 'no-offline-user');
    const record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'ready', hasRefreshToken: false, nextRefreshAt: null });
    expect(record.status.lastError?.code).toBe('no_refresh_token');
    expect(record.status.lastError?.message).toContain('offline_access');
    expect((await s.heldTokens(id)).refreshToken).toBeNull();

    // The access token is served while it lasts; there is nothing to refresh with.
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(await env.server.introspect(jsonBody<TokenResponse>(served).access_token)).toBe(true);
    const admin = await s.profilesHandler()(refreshEvent(id));
    expect(admin.statusCode, admin.body).toBe(409);
    expect(jsonBody(admin)).toMatchObject({ error: 'authorization_required' });
    expect(await s.scheduledRun()).toMatchObject({ due: 0 });
    expect(env.server.grantCount('refresh_token')).toBe(0);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

describe('POST /profiles/{id}/refresh', () => {
  it('refreshes now and answers 200 with the view and a new lastRefreshAt; a never-authorized profile answers 409', async () => {
    const id = s.newId('admin');
    await s.createProfile(id);
    await s.authorize(id, 'admin-user');
    const authorized = await s.record(id);
    const before = await s.heldTokens(id);
    expect(authorized.status.lastRefreshAt).toBeNull();
    s.clock.advance(5 * 60_000); // not due: a person asks anyway
    env.server.resetCounters();

    const lowerBound = s.clock();
    const answer = await s.profilesHandler(s.newBroker())(refreshEvent(id));
    const upperBound = s.clock();
    expect(answer.statusCode, answer.body).toBe(200);
    const view = jsonBody<ProfileView>(answer);
    expect(view).toMatchObject({ id, hasClientSecret: true, status: { state: 'ready', lastError: null } });
    expect(view).not.toHaveProperty('clientSecret');
    const lastRefreshAt = Date.parse(view.status.lastRefreshAt!);
    expect(lastRefreshAt).toBeGreaterThanOrEqual(lowerBound);
    expect(lastRefreshAt).toBeLessThanOrEqual(upperBound);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    const held = await s.heldTokens(id);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(answer.body).not.toContain(held.accessToken);
    expect(answer.body).not.toContain(held.refreshToken!);
    expect(await env.server.introspect(held.accessToken)).toBe(true);

    const neverAuthorized = s.newId('never');
    await s.createProfile(neverAuthorized);
    const refused = await s.profilesHandler()(refreshEvent(neverAuthorized));
    expect(refused.statusCode, refused.body).toBe(409);
    expect(jsonBody(refused)).toMatchObject({ error: 'authorization_required', message: expect.any(String) });
    expect(env.server.grantCount('refresh_token')).toBe(1);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});
