/**
 * Races and faults at exact points of a refresh or a callback (review findings): a status commit throttled
 * after the vault write, a PUT or DELETE landing while a refresh or a code exchange is in flight, a profile
 * in `error` that an administrator fixes, unchanged client secrets, and token requests (or administrator
 * refreshes) that have too little time left for a grant.
 *
 * A refresh or callback is paused at a chosen point with a gate (a promise the test resolves): in the token
 * endpoint's answer (a `fetch` wrapper given to the broker) or in the vault write (a vault wrapper). Store
 * faults come from a wrapper around the real `DynamoDbProfileStore`, given to a `Broker` built directly
 * (support.ts). Nothing waits for time to pass: the broker's clock is moved.
 */
import { describe, expect, it } from 'vitest';
import { SecretsManagerVault } from '../../../lib/adapters/secrets-manager-vault.js';
import type { TokenResponse } from '../../../lib/broker.js';
import { BrokerError } from '../../../lib/errors.js';
import type { SecretVault } from '../../../lib/ports.js';
import type { ProfileView } from '../../../lib/profile.js';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import { events, header, jsonBody } from '../../support/api-events.js';
import { env, faults, s, useLifecycleHooks } from './fixture.js';
import {
  adminRefreshEvent,
  authorizedProfile,
  consentRedirect,
  directBroker,
  finalCommit,
  interceptedStore,
  pausingFetch,
  pausingVault,
  putsTo,
  secretsOf,
  throttled,
  toReady,
} from './support.js';

useLifecycleHooks({ vaultFaults: true });

// The gates, wrappers and helpers are in support.ts.

// ---- 1. the status commit throttled after the vault write -------------------------------------------

describe('the status commit throttled after the vault write', () => {
  it('one throttled commit is retried: the refresh still commits and the profile points at the new set', async () => {
    const { id, authorized, before } = await authorizedProfile('commit-retry');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    let injected = 0;
    // The final commit (the one that releases the lease), not the marking of the pending version.
    const store = interceptedStore(s.store, (options) => (finalCommit(options) && injected++ === 0 ? throttled() : undefined));

    const run = await s.scheduledRun(directBroker({ store }));

    expect(run.outcomes).toEqual({ refreshed: 1 });
    expect(injected).toBe(2);
    expect(store.calls.filter(finalCommit)).toHaveLength(2);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(after.lease).toBeNull();
    expect(after.tokenVersion).not.toBe(authorized.tokenVersion);
    const held = await s.heldTokens(id);
    expect(held).toEqual(await s.vault.getTokenSet(id));
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'status commit failed', profileId: id, attempt: 1 }));
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it('every commit attempt throttled: `failing`, the lease is released, and the next run adopts the new set without another grant', async () => {
    const { id, authorized, before } = await authorizedProfile('commit-lost');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const store = interceptedStore(s.store, (options) => (finalCommit(options) ? throttled() : undefined));

    const failed = await s.scheduledRun(directBroker({ store }));

    expect(failed.outcomes).toEqual({ failing: 1 });
    expect(store.calls.filter(finalCommit).length).toBeGreaterThanOrEqual(2);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    // The server rotated; the vault's current set is the new one, though the profile still points at the old
    // and names the new one as pending. The lease was released.
    const lagging = await s.record(id);
    expect(lagging.tokenVersion).toBe(authorized.tokenVersion);
    expect(lagging.pendingVersion).toEqual(expect.any(String));
    expect(lagging.lease).toBeNull();
    const current = await s.vault.getTokenSet(id);
    expect(current?.refreshToken).toBeTruthy();
    expect(current!.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.refreshTokenActive(before.refreshToken!)).toBe(false);
    expect(await env.server.refreshTokenActive(current!.refreshToken!)).toBe(true);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'refresh commit failed after the vault write', profileId: id }));

    // The next run adopts the pending version: the new set, with no second grant.
    s.clock.set(Date.parse(lagging.status.nextRefreshAt!) + 1000);
    const next = await s.scheduledRun(s.newBroker());

    expect(next.outcomes).toEqual({ not_needed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    const adopted = await s.record(id);
    expect(adopted.tokenVersion).toBe(lagging.pendingVersion);
    expect(adopted.pendingVersion).toBeUndefined();
    expect(adopted.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(adopted.lease).toBeNull();
    expect(await s.heldTokens(id)).toEqual(current);

    // And the refresh after that sends the rotated refresh token: no invalid_grant.
    s.clock.set(Date.parse(adopted.status.nextRefreshAt!) + 1000);
    expect((await s.scheduledRun(s.newBroker())).outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(2);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    const held = await s.heldTokens(id);
    expect(held).toEqual(await s.vault.getTokenSet(id));
    expect(held.refreshToken).not.toBe(current!.refreshToken);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(await env.server.introspect(held.accessToken)).toBe(true);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

// ---- 2./3. a PUT or DELETE while a refresh is in flight ---------------------------------------------

describe('a refresh in flight', () => {
  it('a PUT that changes clientId meanwhile wins: the refresh cannot commit, the profile stays authorization_required', async () => {
    const { id, authorized } = await authorizedProfile('put-during-refresh');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const paused = pausingFetch();
    const refreshing = s.newBroker({ fetch: paused.fetch });
    const tokenAnswer = paused.pauseNext('refresh_token');
    const run = s.scheduledRun(refreshing);
    await tokenAnswer.reached;
    expect((await s.record(id)).lease).not.toBeNull();

    const otherSecret = `other-secret-${id}-0123456789`;
    const put = await s.profilesHandler()(events.putProfile(id, s.profileBody({ clientId: 'lifecycle-other-client', clientSecret: otherSecret })));
    expect(put.statusCode, put.body).toBe(200);
    expect(jsonBody<ProfileView>(put).status.state).toBe('authorization_required');
    tokenAnswer.open();
    const summary = await run;

    expect(summary.outcomes).toEqual({ failing: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    const after = await s.record(id);
    expect(after.config.clientId).toBe('lifecycle-other-client');
    expect(after.status.state).toBe('authorization_required');
    expect(after.tokenVersion).toBeNull();
    expect(after.lease).toBeNull();
    // The only transition to ready is the original authorization.
    expect(toReady(id)).toHaveLength(1);
    // Besides it, the edit is signalled with what it changed (names only) and the tokens it discarded.
    expect(s.changes(id).map(({ from, to, changed, tokensDiscarded }) => [from, to, changed, tokensDiscarded])).toEqual([
      ['authorization_required', 'ready', undefined, undefined],
      ['ready', 'authorization_required', ['clientId', 'clientSecret'], true],
    ]);
    const answer = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(answer.statusCode, answer.body).toBe(409);
    expect(jsonBody(answer)).toMatchObject({ error: 'authorization_required' });
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret, otherSecret]);
  });

  it('a DELETE meanwhile wins: the profile is gone, the rotated grant is revoked and the re-created secret removed again', async () => {
    const { id, authorized } = await authorizedProfile('delete-during-refresh', { revocationUrl: env.server.revocationEndpoint });
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const paused = pausingVault(new SecretsManagerVault({ client: env.secrets.client, prefix: s.secretPrefix }));
    const vaultWrite = paused.pauseNextWrite();
    const run = s.scheduledRun(directBroker({ vault: paused.vault }));
    await vaultWrite.reached;
    // The token request is done: the server has rotated, the new set is about to be written.
    expect(env.server.grantCount('refresh_token')).toBe(1);

    const deleted = await s.profilesHandler()(events.deleteProfile(id));
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(secretsOf(id)).toEqual([]);
    const createsBefore = env.secrets.calls('CreateSecret');
    vaultWrite.open();
    const summary = await run;

    expect(Object.keys(summary.outcomes)).toHaveLength(1);
    expect(await s.store.getProfile(id)).toBeUndefined();
    // The write did land (re-creating the token-set secret) and was removed again.
    expect(paused.written).toHaveLength(1);
    expect(secretsOf(id)).toEqual([]);
    expect(env.secrets.calls('CreateSecret') - createsBefore, 'the late write re-created the token-set secret').toBe(1);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'tokens of a deleted profile revoked and removed', profileId: id }));
    // The grant the refresh rotated does not outlive the profile: its new refresh token was revoked.
    expect(await env.server.refreshTokenActive(paused.written[0]!.refreshToken!)).toBe(false);
    const answer = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(answer.statusCode, answer.body).toBe(404);
    expect(jsonBody(answer)).toMatchObject({ error: 'not_found' });
    s.expectLogsFreeOf([...paused.written.flatMap((t) => [t.accessToken, t.refreshToken]), env.clients.code.clientSecret]);
  });
});

// ---- 4./5. a DELETE or PUT while a callback is in flight ---------------------------------------------

describe('a callback in flight', () => {
  it('a DELETE meanwhile: the page is 400 naming the deletion, and no secret of the profile remains', async () => {
    const id = s.newId('delete-during-callback');
    await s.createProfile(id, { revocationUrl: env.server.revocationEndpoint });
    const redirect = await consentRedirect(id, 'delete-during-callback-user');
    const paused = pausingFetch();
    const exchange = paused.pauseNext('authorization_code');
    const page = createCallbackHandler(() => s.newBroker({ fetch: paused.fetch }), s.logger)(events.callback(redirect));
    await exchange.reached;

    const deleted = await s.profilesHandler()(events.deleteProfile(id));
    expect(deleted.statusCode, deleted.body).toBe(204);
    exchange.open();
    const answer = await page;

    expect(answer.statusCode, answer.body).toBe(400);
    expect(answer.body).toMatch(/was deleted, or its client or token endpoint changed/);
    expect(env.server.grantCount('authorization_code')).toBe(1);
    expect(await s.store.getProfile(id)).toBeUndefined();
    expect(secretsOf(id)).toEqual([]);
    expect(toReady(id)).toEqual([]);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'new tokens not stored: the profile changed', profileId: id, deleted: true }));
    // The profile had never held a grant, so this revocation is the callback's own: the new grant is undone.
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'token revoked', profileId: id, tokenTypeHint: 'refresh_token' }));
    s.expectLogsFreeOf([env.clients.code.clientSecret, new URL(redirect).searchParams.get('code')]);
  });

  it('a PUT that changes clientId meanwhile: the page is 400, the profile stays authorization_required, nothing points at the new set', async () => {
    const id = s.newId('put-during-callback');
    await s.createProfile(id);
    const created = await s.record(id);
    const redirect = await consentRedirect(id, 'put-during-callback-user');
    const paused = pausingFetch();
    const exchange = paused.pauseNext('authorization_code');
    const page = createCallbackHandler(() => s.newBroker({ fetch: paused.fetch }), s.logger)(events.callback(redirect));
    await exchange.reached;

    const put = await s.profilesHandler()(events.putProfile(id, s.profileBody({ clientId: 'lifecycle-replacement-client' })));
    expect(put.statusCode, put.body).toBe(200);
    exchange.open();
    const answer = await page;

    expect(answer.statusCode, answer.body).toBe(400);
    expect(answer.body).toMatch(/was deleted, or its client or token endpoint changed/);
    const after = await s.record(id);
    expect(after.config.clientId).toBe('lifecycle-replacement-client');
    expect(after.status.state).toBe('authorization_required');
    expect(after.tokenVersion).toBeNull();
    expect(after.stagedTokens).toBeNull();
    // The PUT, then the failed callback recording why (docs/api.md: `lastError` after a matched state).
    expect(after.revision).toBe(created.revision + 2);
    expect(after.status.lastError?.code).toBe('profile_changed');
    expect(toReady(id)).toEqual([]);
    // The new grant will never be used: its revocation was attempted (this profile has no revocation endpoint).
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'token not revoked: no revocation endpoint', profileId: id }));
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(409);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'new tokens not stored: the profile changed', profileId: id, deleted: false }));
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret, new URL(redirect).searchParams.get('code')]);
  });
});

// ---- 6. a profile in error, fixed by an administrator -----------------------------------------------

describe('a profile in `error` that an administrator PUTs again', () => {
  it('is due at once with its failures cleared, and the next scheduled run refreshes it to ready', async () => {
    const { id, authorized, before } = await authorizedProfile('error-fixed');
    const wrongSecret = `wrong-secret-${id}-0123456789`;
    const broken = await s.profilesHandler()(events.putProfile(id, s.profileBody({ clientSecret: wrongSecret })));
    expect(broken.statusCode, broken.body).toBe(200);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();

    expect((await s.scheduledRun()).outcomes).toEqual({ error: 1 });
    expect(env.server.grantErrorCount('refresh_token', 'invalid_client')).toBe(1);
    const inError = await s.record(id);
    expect(inError.status.state).toBe('error');
    expect(inError.status.lastError?.code).toBe('invalid_client');
    expect(inError.tokenVersion).toBe(authorized.tokenVersion);
    // Left alone, an `error` profile is never retried.
    s.clock.advance(3_600_000);
    expect((await s.scheduledRun()).attempted).toBe(0);

    const fixed = await s.profilesHandler()(events.putProfile(id, s.profileBody()));
    expect(fixed.statusCode, fixed.body).toBe(200);
    const view = jsonBody<ProfileView>(fixed);
    const record = await s.record(id);
    for (const status of [view.status, record.status]) {
      expect(status).toMatchObject({ consecutiveFailures: 0, lastError: null });
      expect(status.state).not.toBe('error');
      expect(Date.parse(status.nextRefreshAt!)).toBeLessThanOrEqual(s.clock());
    }
    expect(record.tokenVersion).toBe(authorized.tokenVersion);

    const run = await s.scheduledRun();
    expect(run.outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(Date.parse(after.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    const held = await s.heldTokens(id);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.introspect(held.accessToken)).toBe(true);
    expect(s.changes(id).map(({ from, to }) => [from, to]).at(-1)).toEqual([expect.not.stringMatching(/^ready$/), 'ready']);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret, wrongSecret]);
  });
});

// ---- 7. an unchanged client secret is not written again ----------------------------------------------

describe('PUT and the client secret', () => {
  it('the same clientSecret as stored makes no PutSecretValue for it; a different one exactly one', async () => {
    const id = s.newId('secret-writes');
    await s.createProfile(id);
    const name = `${s.secretPrefix}/${id}/client-secret`;
    expect(env.secrets.currentValue(name)).toBe(env.clients.code.clientSecret);
    const versions = () => env.secrets.secrets.get(name)?.versions.size;
    const versionsBefore = versions();

    let writes = putsTo(name);
    const same = await s.profilesHandler()(events.putProfile(id, s.profileBody({ scope: 'openid offline_access' })));
    expect(same.statusCode, same.body).toBe(200);
    expect(putsTo(name) - writes).toBe(0);
    expect(versions()).toBe(versionsBefore);

    // Without clientSecret in the body: the stored one is kept, nothing written.
    const { clientSecret: _omitted, ...withoutSecret } = s.profileBody();
    const kept = await s.profilesHandler()(events.putProfile(id, withoutSecret));
    expect(kept.statusCode, kept.body).toBe(200);
    expect(putsTo(name) - writes).toBe(0);

    const rotated = `rotated-secret-${id}-0123456789`;
    writes = putsTo(name);
    const changed = await s.profilesHandler()(events.putProfile(id, s.profileBody({ clientSecret: rotated })));
    expect(changed.statusCode, changed.body).toBe(200);
    expect(putsTo(name) - writes).toBe(1);
    expect(env.secrets.currentValue(name)).toBe(rotated);
    s.expectLogsFreeOf([env.clients.code.clientSecret, rotated]);
  });
});

// ---- 8. no grant without the time to finish it -------------------------------------------------------

describe('a token request with too little time left', () => {
  async function profileInsideMargin(label: string) {
    const profile = await authorizedProfile(label);
    s.clock.set(Date.parse(profile.before.expiresAt) - 30_000);
    env.server.resetCounters();
    return profile;
  }

  it('a deadline too close makes no grant and answers 503 temporarily_unavailable; a generous one refreshes', async () => {
    const { id, before } = await profileInsideMargin('deadline');
    const broker = s.newBroker();

    const refused = await broker.getToken(id, 60, { remainingMs: 5000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(BrokerError);
    expect(refused).toMatchObject({ status: 503, code: 'temporarily_unavailable' });
    expect((refused as BrokerError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(env.server.grantCount('refresh_token')).toBe(0);
    const untouched = await s.record(id);
    expect(untouched.lease, 'the lease is released when no grant is started').toBeNull();
    expect(untouched.status).toMatchObject({ state: 'ready', consecutiveFailures: 0, lastError: null });

    const served = await broker.getToken(id, 60, { remainingMs: 60_000 });
    expect(served.access_token).not.toBe(before.accessToken);
    expect(served.expires_in).toBeGreaterThanOrEqual(60);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect((await s.heldTokens(id)).accessToken).toBe(served.access_token);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it('lambdas/token.ts passes the function\'s remaining time: 3 s left → 503 and no grant', async () => {
    const { id } = await profileInsideMargin('lambda-deadline');
    const handler = s.tokenHandler(s.newBroker());

    const answer = await handler(events.token(id), { getRemainingTimeInMillis: () => 3000 });
    expect(answer.statusCode, answer.body).toBe(503);
    expect(jsonBody(answer)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(env.server.grantCount('refresh_token')).toBe(0);

    // Without a context (local mode), the same request refreshes.
    const unbounded = await handler(events.token(id));
    expect(unbounded.statusCode, unbounded.body).toBe(200);
    expect(env.server.grantCount('refresh_token')).toBe(1);
  });

  // The remaining time is measured on the broker's clock, which the tests move.
  it('lambdas/token.ts with plenty of time left refreshes, whatever the broker\'s clock', async () => {
    const { id } = await profileInsideMargin('lambda-generous');
    const answer = await s.tokenHandler(s.newBroker())(events.token(id), { getRemainingTimeInMillis: () => 60_000 });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(env.server.grantCount('refresh_token')).toBe(1);
  });

  it('lambdas/profiles.ts passes the function\'s remaining time to POST /refresh: 3 s left → 503 and no grant; without a context it refreshes', async () => {
    // Prepare: a ready profile (an administrator refresh always needs a grant).
    const { id, authorized, before } = await authorizedProfile('admin-deadline');
    env.server.resetCounters();
    const handler = s.profilesHandler(s.newBroker());

    // Act
    const refused = await handler(adminRefreshEvent(id), { getRemainingTimeInMillis: () => 3000 });

    // Assess
    expect(refused.statusCode, refused.body).toBe(503);
    expect(jsonBody(refused)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(header(refused, 'Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(env.server.grantCount('refresh_token')).toBe(0);
    const untouched = await s.record(id);
    expect(untouched.lease, 'the lease is released when no grant is started').toBeNull();
    expect(untouched.pendingVersion).toBeUndefined();
    expect(untouched.tokenVersion).toBe(authorized.tokenVersion);
    expect(untouched.status).toEqual(authorized.status);

    // Act: plenty of time left, then no context at all (local mode)
    const generous = await handler(adminRefreshEvent(id), { getRemainingTimeInMillis: () => 60_000 });
    const unbounded = await handler(adminRefreshEvent(id));

    // Assess
    expect(generous.statusCode, generous.body).toBe(200);
    expect(unbounded.statusCode, unbounded.body).toBe(200);
    expect(env.server.grantCount('refresh_token')).toBe(2);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    const held = await s.heldTokens(id);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(jsonBody<ProfileView>(unbounded).status).toMatchObject({ state: 'ready', accessTokenExpiresAt: held.expiresAt });
  });
});

// ---- 10. staged tokens and the vault backoff ---------------------------------------------------------

describe('staged tokens before the backoff ends', () => {
  it('N token requests on several containers (and a scheduled run) make 0 PutSecretValue calls and no grant', async () => {
    const { id, before } = await authorizedProfile('staged-quiet');
    s.clock.set(Date.parse(before.expiresAt) - 30_000);
    env.server.resetCounters();
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    const first = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(first.statusCode, first.body).toBe(200);
    const fresh = jsonBody<TokenResponse>(first).access_token;
    const staged = await s.record(id);
    expect(staged.stagedTokens).toEqual(expect.any(String));
    expect(Date.parse(staged.status.nextRefreshAt!)).toBeGreaterThan(s.clock());

    const writes = env.secrets.calls('PutSecretValue');
    const creates = env.secrets.calls('CreateSecret');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => s.tokenHandler(s.newBroker())(events.token(id, i % 2 ? { minValiditySeconds: '120' } : undefined))));
    for (const answer of answers) {
      expect(answer.statusCode, answer.body).toBe(200);
      expect(jsonBody<TokenResponse>(answer).access_token).toBe(fresh);
    }
    expect((await s.scheduledRun()).attempted).toBe(0);
    expect(env.secrets.calls('PutSecretValue')).toBe(writes);
    expect(env.secrets.calls('CreateSecret')).toBe(creates);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect((await s.record(id)).stagedTokens).toBe(staged.stagedTokens);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), fresh, env.clients.code.clientSecret]);
  });
});

// ---- a deletion that failed half-way -------------------------------------------------------------------

describe('a DELETE that failed half-way', () => {
  it('leaves the profile fenced off (token 404, PUT 409, no refresh) until a repeated DELETE completes it', async () => {
    const { id, authorized } = await authorizedProfile('half-deleted');
    const real = new SecretsManagerVault({ client: env.secrets.client, prefix: s.secretPrefix });
    let failDeletes = 1;
    const flaky: SecretVault = {
      putClientSecret: (profileId, secret) => real.putClientSecret(profileId, secret),
      getClientSecret: (profileId) => real.getClientSecret(profileId),
      getTokenSet: (profileId, version) => real.getTokenSet(profileId, version),
      putTokenSet: (profileId, tokens, options) => real.putTokenSet(profileId, tokens, options),
      deleteClientSecret: (profileId) => real.deleteClientSecret(profileId),
      deleteTokenSet: (profileId) => real.deleteTokenSet(profileId),
      async deleteProfileSecrets(profileId) {
        if (failDeletes-- > 0) throw new Error('injected: Secrets Manager unavailable');
        return real.deleteProfileSecrets(profileId);
      },
    };

    const failed = await s.profilesHandler(directBroker({ vault: flaky }))(events.deleteProfile(id));
    expect(failed.statusCode, failed.body).toBe(500);
    const fenced = await s.record(id);
    expect(fenced.deleting).toBe(true);
    expect(fenced.lease).toBeNull();

    const token = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(token.statusCode, token.body).toBe(404);
    const put = await s.profilesHandler()(events.putProfile(id, s.profileBody()));
    expect(put.statusCode, put.body).toBe(409);
    expect((await s.record(id)).deleting).toBe(true);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const run = await s.scheduledRun(s.newBroker());
    expect(run.outcomes).toEqual({ profile_gone: 1 });
    expect(env.server.tokenRequests).toHaveLength(0);

    const repeated = await s.profilesHandler()(events.deleteProfile(id));
    expect(repeated.statusCode, repeated.body).toBe(204);
    expect(await s.store.getProfile(id)).toBeUndefined();
    expect(secretsOf(id)).toEqual([]);
    const recreated = await s.profilesHandler()(events.putProfile(id, s.profileBody()));
    expect(recreated.statusCode, recreated.body).toBe(201);
    s.expectLogsFreeOf([env.clients.code.clientSecret]);
  });
});

// ---- an edit that discards tokens the vault cannot read --------------------------------------------------

describe('an edit that discards tokens the vault cannot read', () => {
  it('is saved all the same (it is how a broken profile is repaired), says why nothing was revoked, and serves no old token', async () => {
    // Prepare: an authorized profile whose held token set no longer reads.
    const { id } = await authorizedProfile('unreadable-held');
    const real = new SecretsManagerVault({ client: env.secrets.client, prefix: s.secretPrefix });
    const unreadable: SecretVault = {
      putClientSecret: (profileId, secret) => real.putClientSecret(profileId, secret),
      getClientSecret: (profileId) => real.getClientSecret(profileId),
      getTokenSet: async () => {
        throw new Error('injected: Secrets Manager unavailable');
      },
      putTokenSet: (profileId, tokens, options) => real.putTokenSet(profileId, tokens, options),
      deleteClientSecret: (profileId) => real.deleteClientSecret(profileId),
      deleteTokenSet: (profileId) => real.deleteTokenSet(profileId),
      deleteProfileSecrets: (profileId) => real.deleteProfileSecrets(profileId),
    };
    env.server.resetCounters();

    // Act: a new client id is a new grant, so the held tokens are discarded.
    const edited = await s.profilesHandler(directBroker({ vault: unreadable }))(events.putProfile(id, s.profileBody({ clientId: 'lifecycle-code-renamed' })));

    // Assess
    expect(edited.statusCode, edited.body).toBe(200);
    const view = jsonBody<ProfileView>(edited);
    expect(view.status.state).toBe('authorization_required');
    expect((await s.record(id)).tokenVersion).toBeNull();
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'discarded tokens not revoked: they could not be read', profileId: id }));
    const token = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(token.statusCode, token.body).toBe(409);
    s.expectLogsFreeOf([env.clients.code.clientSecret]);
  });
});

// ---- an edit whose new client secret cannot be written ---------------------------------------------------

describe('an edit that discards tokens and whose new client secret cannot be written', () => {
  it('answers 500 but still revokes the discarded tokens at the server, which no later request could find again', async () => {
    // Prepare: an authorized profile at a server that revokes; the vault refuses the next client-secret write.
    const revocable = { revocationUrl: env.server.revocationEndpoint };
    const { id } = await authorizedProfile('secret-write-fails', revocable);
    const held = await s.heldTokens(id);
    const real = new SecretsManagerVault({ client: env.secrets.client, prefix: s.secretPrefix });
    const failingSecretWrite: SecretVault = {
      putClientSecret: async () => {
        throw new Error('injected: Secrets Manager unavailable');
      },
      getClientSecret: (profileId) => real.getClientSecret(profileId),
      getTokenSet: (profileId, version) => real.getTokenSet(profileId, version),
      putTokenSet: (profileId, tokens, options) => real.putTokenSet(profileId, tokens, options),
      deleteClientSecret: (profileId) => real.deleteClientSecret(profileId),
      deleteTokenSet: (profileId) => real.deleteTokenSet(profileId),
      deleteProfileSecrets: (profileId) => real.deleteProfileSecrets(profileId),
    };
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);

    // Act: another client (a new grant) with its secret.
    const edited = await s.profilesHandler(directBroker({ vault: failingSecretWrite }))(
      events.putProfile(id, s.profileBody({ ...revocable, clientId: 'lifecycle-code-renamed', clientSecret: 'renamed-client-secret-0123456789' })),
    );

    // Assess: the edit failed at the secret, the profile no longer points at the old tokens, and the server
    // revoked them anyway.
    expect(edited.statusCode, edited.body).toBe(500);
    expect((await s.record(id)).tokenVersion).toBeNull();
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(false);
    s.expectLogsFreeOf([env.clients.code.clientSecret, held.refreshToken, 'renamed-client-secret-0123456789']);
  });
});
