/**
 * Client-credentials profiles (lifecycle issue §7): a token is obtained on the first token request and
 * kept fresh by the scheduler; status `ready` after the first success.
 */
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { apiGatewayEvent, events, jsonBody } from '../../support/api-events.js';
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
