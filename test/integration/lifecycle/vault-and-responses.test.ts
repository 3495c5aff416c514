/**
 * Nothing lost when a write fails, no write when nothing changed, and what the broker
 * makes of unusual token responses: no `expires_in` (§ "No expires_in") and an empty or null rotated
 * refresh token (§4).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import { apiGatewayEvent, events, jsonBody } from '../../support/api-events.js';
import { snapshotSecrets } from '../../support/store-snapshot.js';
import { env, fakeJwt, faults, s, useLifecycleHooks } from './fixture.js';

useLifecycleHooks({ vaultFaults: true });

const puts = () => env.secrets.calls('PutSecretValue');
const gets = () => env.secrets.calls('GetSecretValue');

describe('the vault write failing after a successful grant', () => {
  it('keeps the new refresh token (staged), and the next run reconciles: vault updated, staging cleared, the rotated token works', async () => {
    const id = s.newId('vault-down');
    await s.createProfile(id);
    await s.authorize(id, 'vault-down-user');
    const authorized = await s.record(id);
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();

    // Every attempt the refresher makes at writing the token set fails (3 attempts, retried in the run).
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    const rejectedBefore = faults.rejected;
    const failed = await s.scheduledRun();
    expect(failed.outcomes).toEqual({ failing: 1 });
    expect(faults.rejected - rejectedBefore).toBe(3);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    // The server has rotated: the refresh token the vault still holds is consumed.
    expect(await env.server.refreshTokenActive(before.refreshToken!)).toBe(false);

    const staged = await s.record(id);
    expect(staged.stagedTokens).toEqual(expect.any(String));
    expect(staged.tokenVersion).toBe(authorized.tokenVersion);
    expect(staged.status.lastError?.code).toBe('vault_write_failed');
    expect(staged.status.lastError?.message).not.toMatch(/token[^s]*[A-Za-z0-9_-]{20,}/);
    // The vault is retried after a backoff, not on every run or token request.
    expect(Date.parse(staged.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    expect(staged.status.consecutiveFailures).toBe(1);
    expect(staged.lease).toBeNull();
    expect(await s.vault.getTokenSet(id)).toEqual(before);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'token set could not be written to the vault', profileId: id }));
    expect((await s.scheduledRun()).outcomes).toEqual({});

    // The vault is healthy again: the next run after the backoff writes the staged set, with no new grant.
    s.clock.set(Date.parse(staged.status.nextRefreshAt!) + 1000);
    const reconciled = await s.scheduledRun();
    expect(reconciled.outcomes).toEqual({ reconciled: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    const after = await s.record(id);
    expect(after.stagedTokens).toBeNull();
    expect(after.tokenVersion).not.toBe(authorized.tokenVersion);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(Date.parse(after.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    const held = await s.heldTokens(id);
    expect(await s.vault.getTokenSet(id)).toEqual(held);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(await env.server.introspect(held.accessToken)).toBe(true);
    // The staged blob was sealed: the table never held the new tokens in the clear.
    expect(staged.stagedTokens).not.toContain(held.refreshToken!);
    expect(staged.stagedTokens).not.toContain(held.accessToken);
    // The reconciling run must not leave its lease behind (it would block the next refresh for leaseMs).
    expect.soft(after.lease, 'lease left behind by the reconciling run').toBeNull();
    // Every signalled change is a change of state.
    expect.soft(s.changes(id).filter((change) => change.from === change.to), 'status events without a state change').toEqual([]);

    // The token endpoint serves the reconciled token.
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(held.accessToken);

    // The rotated refresh token works: the next refresh succeeds without invalid_grant.
    s.clock.set(Date.parse(after.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(2);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    const next = await s.heldTokens(id);
    expect(next.refreshToken).not.toBe(held.refreshToken);
    expect((await s.record(id)).status).toMatchObject({ state: 'ready', lastError: null });

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it('a run that only reconciles frees the lease: an administrator refresh right after it is not turned away', async () => {
    const id = s.newId('vault-down-lease');
    await s.createProfile(id);
    await s.authorize(id, 'vault-down-lease-user');
    const authorized = await s.record(id);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    s.clock.set(Date.parse((await s.record(id)).status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ reconciled: 1 });
    env.server.resetCounters();

    const answer = await s.profilesHandler(s.newBroker({ maxWaitMs: 200 }))(
      apiGatewayEvent({ method: 'POST', resource: '/profiles/{id}/refresh', pathParameters: { id } }),
    );
    expect(answer.statusCode, answer.body).toBe(200);
    expect(env.server.grantCount('refresh_token')).toBe(1);
  });

  it('a token request while the vault fails still gets the new token; later requests serve it, and one after the backoff reconciles', async () => {
    const id = s.newId('vault-down-inline');
    await s.createProfile(id);
    await s.authorize(id, 'vault-down-inline-user');
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(before.expiresAt) - 30_000);
    env.server.resetCounters();

    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    const during = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(during.statusCode, during.body).toBe(200);
    const fresh = jsonBody<TokenResponse>(during).access_token;
    expect(fresh).not.toBe(before.accessToken);
    expect(await env.server.introspect(fresh)).toBe(true);
    expect((await s.record(id)).stagedTokens).toEqual(expect.any(String));

    // Another instance, before the backoff ends: served the staged token, no vault write attempted.
    const rejectedBefore = faults.rejected;
    const writesBefore = env.secrets.calls('PutSecretValue');
    const meanwhile = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(meanwhile.statusCode, meanwhile.body).toBe(200);
    expect(jsonBody<TokenResponse>(meanwhile).access_token).toBe(fresh);
    expect(faults.rejected).toBe(rejectedBefore);
    expect(env.secrets.calls('PutSecretValue')).toBe(writesBefore);
    expect((await s.record(id)).stagedTokens).toEqual(expect.any(String));

    // After the backoff: the staged tokens are reconciled under the lease and served.
    s.clock.set(Date.parse((await s.record(id)).status.nextRefreshAt!) + 1000);
    const later = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(later.statusCode, later.body).toBe(200);
    expect(jsonBody<TokenResponse>(later).access_token).toBe(fresh);
    const record = await s.record(id);
    expect(record.stagedTokens).toBeNull();
    expect((await s.heldTokens(id)).accessToken).toBe(fresh);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

describe('the vault write failing for longer', () => {
  it('token requests keep being served the token obtained (not 503) while the vault still refuses writes, with no new grant', async () => {
    const id = s.newId('vault-outage');
    await s.createProfile(id);
    await s.authorize(id, 'vault-outage-user');
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(before.expiresAt) - 30_000);
    env.server.resetCounters();

    // The first request's refresh fails its 3 write attempts; the next request, inside the backoff, makes none.
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    const first = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(first.statusCode, first.body).toBe(200);
    const fresh = jsonBody<TokenResponse>(first).access_token;
    expect((await s.record(id)).stagedTokens).toEqual(expect.any(String));

    // The broker holds a valid token (staged, sealed under the refresh token the vault still has).
    const second = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(faults.pending()).toBe(0);
    expect(second.statusCode, second.body).toBe(200);
    expect(jsonBody<TokenResponse>(second).access_token).toBe(fresh);
    expect(env.server.grantCount('refresh_token')).toBe(1);
  });
});

describe('an unchanged token set is never written', () => {
  it('0 PutSecretValue for a not-due or duplicate scheduled run and for token requests served from the held token', async () => {
    const id = s.newId('unchanged');
    await s.createProfile(id);
    await s.authorize(id, 'unchanged-user');
    const authorized = await s.record(id);

    // Not due: the run finds nothing.
    let writes = puts();
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    expect(puts() - writes).toBe(0);

    // Token requests served from the held token: no write (and a warm one makes no AWS call at all).
    const cold = s.newBroker();
    const first = await s.tokenHandler(cold)(events.token(id));
    expect(first.statusCode, first.body).toBe(200);
    const reads = gets();
    const warm = await s.tokenHandler(cold)(events.token(id));
    expect(warm.statusCode, warm.body).toBe(200);
    expect(gets() - reads).toBe(0);
    expect(puts() - writes).toBe(0);

    // Due: one refresh, one write. The same event delivered again (a duplicate or late run) writes nothing.
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ refreshed: 1 });
    expect(puts() - writes).toBe(1);
    writes = puts();
    expect(await s.scheduledRun(s.newBroker())).toMatchObject({ due: 0, attempted: 0 });
    expect(await s.scheduledRun()).toMatchObject({ due: 0, attempted: 0 });
    expect(puts() - writes).toBe(0);
    expect(env.server.grantCount('refresh_token')).toBe(1);
  });

  it('0 PutSecretValue when a refresh answers exactly the token set already held', async () => {
    const id = s.newId('same-answer');
    await s.createProfile(id);
    await s.authorize(id, 'same-answer-user');
    const exp = Math.floor(s.clock() / 1000) + 1800;
    // A JWT access token without expires_in: its `exp` fixes expiresAt, so the same answer is the same set.
    const body = JSON.stringify({ access_token: fakeJwt({ iss: env.server.issuer, sub: 'same', exp }), token_type: 'Bearer' });

    env.server.failTokenEndpoint([{ status: 200, body }]);
    await s.broker.refreshNow(id);
    const held = await s.heldTokens(id);
    const version = (await s.record(id)).tokenVersion;

    const writes = puts();
    s.clock.advance(60_000);
    env.server.failTokenEndpoint([{ status: 200, body }]);
    const view = await s.broker.refreshNow(id);
    expect(view.status).toMatchObject({ state: 'ready', lastError: null });
    expect(puts() - writes).toBe(0);
    const record = await s.record(id);
    expect(record.tokenVersion).toBe(version);
    expect(record.lease).toBeNull();
    expect(await s.heldTokens(id)).toEqual(held);
  });
});

describe('a token response without expires_in', () => {
  it('uses the exp of a JWT access token, and the profile default lifetime for an opaque one', async () => {
    const id = s.newId('no-expires-in');
    await s.createProfile(id, { defaultTokenLifetimeSeconds: 900 });
    await s.authorize(id, 'no-expires-in-user');
    const before = await s.heldTokens(id);

    // JWT-shaped access token with exp, no expires_in.
    const exp = Math.floor(s.clock() / 1000) + 1234;
    const jwt = fakeJwt({ iss: env.server.issuer, sub: 'no-expires-in-user', aud: 'api', exp, iat: exp - 1234 });
    env.server.failTokenEndpoint([{ status: 200, body: JSON.stringify({ access_token: jwt, token_type: 'Bearer', scope: 'openid offline_access' }) }]);
    let view = await s.broker.refreshNow(id);
    expect(view.status.state).toBe('ready');
    expect(view.status.accessTokenExpiresAt).toBe(new Date(exp * 1000).toISOString());
    let held = await s.heldTokens(id);
    expect(held.accessToken).toBe(jwt);
    expect(held.expiresAt).toBe(new Date(exp * 1000).toISOString());
    // No refresh_token in the answer: the old one is kept.
    expect(held.refreshToken).toBe(before.refreshToken);

    // Opaque access token, no expires_in: the profile's defaultTokenLifetimeSeconds (900).
    const opaque = `opaque-${randomBytes(16).toString('hex')}`;
    env.server.failTokenEndpoint([{ status: 200, body: JSON.stringify({ access_token: opaque, token_type: 'bearer' }) }]);
    view = await s.broker.refreshNow(id);
    held = await s.heldTokens(id);
    expect(held.accessToken).toBe(opaque);
    expect(held.tokenType).toBe('Bearer');
    expect(Date.parse(held.expiresAt) - Date.parse(held.obtainedAt)).toBe(900_000);
    expect(view.status.accessTokenExpiresAt).toBe(held.expiresAt);
    expect(view.status.lastError).toBeNull();

    // The kept refresh token is still the server's: a real refresh works.
    env.server.resetCounters();
    view = await s.broker.refreshNow(id);
    expect(view.status).toMatchObject({ state: 'ready', lastError: null });
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    expect(await env.server.introspect((await s.heldTokens(id)).accessToken)).toBe(true);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), jwt, opaque, env.clients.code.clientSecret]);
  });
});

describe('rotation', () => {
  it.each([
    ['empty', ''],
    ['null', null],
  ])('a refresh response with a %s refresh_token → invalid_response, nothing changes in the vault', async (label, refreshToken) => {
    const id = s.newId(`rotation-${label}`);
    await s.createProfile(id);
    await s.authorize(id, `rotation-${label}-user`);
    const before = await s.heldTokens(id);
    const authorized = await s.record(id);
    const secretsBefore = snapshotSecrets(env.secrets);
    const writes = puts();
    const newAccessToken = `at-should-not-be-stored-${randomBytes(12).toString('hex')}`;

    env.server.failTokenEndpoint([
      {
        status: 200,
        body: JSON.stringify({ access_token: newAccessToken, token_type: 'Bearer', expires_in: 3600, refresh_token: refreshToken }),
      },
    ]);
    const view = await s.broker.refreshNow(id);
    expect(view.status.lastError?.code).toBe('invalid_response');
    expect(view.status.state).toBe('refresh_failing');
    expect(puts() - writes).toBe(0);
    expect(snapshotSecrets(env.secrets)).toEqual(secretsBefore);
    const record = await s.record(id);
    expect(record.tokenVersion).toBe(authorized.tokenVersion);
    expect(record.stagedTokens).toBeNull();
    expect(await s.heldTokens(id)).toEqual(before);

    // The token endpoint keeps serving the held token, never the refused one.
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(before.accessToken);

    // The held refresh token still works.
    env.server.resetCounters();
    const recovered = await s.broker.refreshNow(id);
    expect(recovered.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), newAccessToken, env.clients.code.clientSecret]);
  });
});
