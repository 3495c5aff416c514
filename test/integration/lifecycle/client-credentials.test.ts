/**
 * Client-credentials profiles: a token is obtained on the first token request and
 * kept fresh by the scheduler; status `ready` after the first success. No person can renew such a grant:
 * a refused client is `error` (answered 503, never 409 authorization_required), and a PUT that fixes a
 * profile that never got a token makes it due at once.
 */
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { apiGatewayEvent, events, header, jsonBody } from '../../support/api-events.js';
import { env, s, useLifecycleHooks } from './fixture.js';

useLifecycleHooks();

async function machineProfile(id: string): Promise<void> {
  await s.createProfile(id, {
    grantType: 'client_credentials',
    authorizationUrl: undefined,
    tokenUrl: env.server.tokenEndpoint,
    clientId: env.clients.machine.clientId,
    clientSecret: env.clients.machine.clientSecret,
    scope: undefined,
    authorizationParams: undefined,
  });
}

describe('client-credentials profile', () => {
  it('the first token request obtains a token (one client_credentials grant) and the profile becomes ready', async () => {
    const id = s.newId('machine-first');
    await machineProfile(id);

    const answer = await s.tokenHandler()(events.token(id));
    expect(answer.statusCode, answer.body).toBe(200);
    const token = jsonBody<TokenResponse>(answer);
    expect(await env.server.introspect(token.access_token)).toBe(true);
    expect(env.server.grantCount('client_credentials')).toBe(1);

    const record = await s.record(id);
    expect(record.status).toMatchObject({ state: 'ready', hasRefreshToken: false, lastError: null, consecutiveFailures: 0 });
    expect(record.status.nextRefreshAt).not.toBeNull();
    expect(s.changes(id).map(({ from, to }) => [from, to])).toEqual([['authorization_required', 'ready']]);

    // Another instance serves the held token without a new grant.
    const again = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(again.statusCode, again.body).toBe(200);
    expect(jsonBody<TokenResponse>(again).access_token).toBe(token.access_token);
    expect(env.server.grantCount('client_credentials')).toBe(1);

    s.expectLogsFreeOf([token.access_token, env.clients.machine.clientSecret]);
  });

  it('once it holds a token, a scheduled run after the token becomes due refreshes it', async () => {
    const id = s.newId('machine-scheduled');
    await machineProfile(id);
    // Obtained through POST /profiles/{id}/refresh (independent of the first-token-request path above).
    const obtained = await s.profilesHandler()(apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id } }));
    expect(obtained.statusCode, obtained.body).toBe(200);
    expect(jsonBody<ProfileView>(obtained).status.state).toBe('ready');
    expect(env.server.grantCount('client_credentials')).toBe(1);
    const first = await s.heldTokens(id);
    const record = await s.record(id);

    // Not due yet: nothing happens.
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    expect(env.server.grantCount('client_credentials')).toBe(1);

    s.clock.set(Date.parse(record.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('client_credentials')).toBe(2);
    const second = await s.heldTokens(id);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await env.server.introspect(second.accessToken)).toBe(true);
    const refreshed = await s.record(id);
    expect(refreshed.status).toMatchObject({ state: 'ready', lastError: null });
    expect(Date.parse(refreshed.status.nextRefreshAt!)).toBeGreaterThan(s.clock());

    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(second.accessToken);
    expect(env.server.grantCount('client_credentials')).toBe(2);

    s.expectLogsFreeOf([first.accessToken, second.accessToken, env.clients.machine.clientSecret]);
  });
});

describe('a client-credentials profile the token endpoint refuses', () => {
  it('invalid_grant → the token route answers 503 temporarily_unavailable (not 409 authorization_required), state `error`', async () => {
    // Prepare
    const id = s.newId('machine-invalid-grant');
    await machineProfile(id);
    env.server.failTokenEndpoint([{ status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'grant refused' }) }]);

    // Act
    const answer = await s.tokenHandler()(events.token(id));

    // Assess
    expect(env.server.grantErrorCount('client_credentials', 'invalid_grant')).toBe(1);
    expect(answer.statusCode, answer.body).toBe(503);
    expect(jsonBody(answer)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(header(answer, 'Retry-After'))).toBeGreaterThanOrEqual(1);
    const record = await s.record(id);
    expect(record.status.state).toBe('error');
    expect(record.status.lastError?.code).toBe('invalid_grant');
    expect(record.tokenVersion).toBeNull();
    const view = await s.profilesHandler()(events.getProfile(id));
    expect(jsonBody<ProfileView>(view).status.state).toBe('error');
    // Asked again (another container): still 503, and no new grant while in `error`.
    const again = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(again.statusCode, again.body).toBe(503);
    expect(jsonBody(again)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(env.server.grantCount('client_credentials')).toBe(1);
    s.expectLogsFreeOf([env.clients.machine.clientSecret]);
  });
});

describe('a client-credentials profile in `error` that never got a token, PUT again', () => {
  it('→ authorization_required and due now (not `expired`); the next scheduled run obtains a token → ready', async () => {
    // Prepare: the first token request is refused with invalid_client → `error`, no token held.
    const id = s.newId('machine-fixed');
    await machineProfile(id);
    env.server.failTokenEndpoint([{ status: 401, body: JSON.stringify({ error: 'invalid_client' }) }]);
    const refused = await s.tokenHandler()(events.token(id));
    expect(refused.statusCode, refused.body).toBe(503);
    const inError = await s.record(id);
    expect(inError.status).toMatchObject({ state: 'error', accessTokenExpiresAt: null, nextRefreshAt: null });
    expect(inError.tokenVersion).toBeNull();
    expect((await s.scheduledRun()).attempted, 'an `error` profile is not scheduled').toBe(0);
    env.server.resetCounters();

    // Act: an administrator PUTs the profile again.
    const fixed = await s.profilesHandler()(
      events.putProfile(
        id,
        s.profileBody({
          grantType: 'client_credentials',
          authorizationUrl: undefined,
          tokenUrl: env.server.tokenEndpoint,
          clientId: env.clients.machine.clientId,
          clientSecret: env.clients.machine.clientSecret,
          scope: undefined,
          authorizationParams: undefined,
        }),
      ),
    );

    // Assess
    expect(fixed.statusCode, fixed.body).toBe(200);
    const view = jsonBody<ProfileView>(fixed);
    const record = await s.record(id);
    for (const status of [view.status, record.status]) {
      expect(status).toMatchObject({ state: 'authorization_required', lastError: null, consecutiveFailures: 0, accessTokenExpiresAt: null });
      expect(status.nextRefreshAt).not.toBeNull();
      expect(Date.parse(status.nextRefreshAt!)).toBeLessThanOrEqual(s.clock());
    }
    expect(env.server.tokenRequests).toHaveLength(0);

    // Act: the next scheduled run.
    const run = await s.scheduledRun(s.newBroker());

    // Assess
    expect(run.outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('client_credentials')).toBe(1);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    const held = await s.heldTokens(id);
    expect(await env.server.introspect(held.accessToken)).toBe(true);
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(held.accessToken);
    s.expectLogsFreeOf([held.accessToken, env.clients.machine.clientSecret]);
  });
});
