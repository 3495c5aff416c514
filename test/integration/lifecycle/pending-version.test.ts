/**
 * The pending vault version (second review of the refresh path): a holder records the version it is about
 * to write before it asks the token endpoint, and the next holder adopts it after a lost commit, never the
 * vault's merely-current set.
 *
 * - A person's new authorization during a refresh breaks the lease AND forgets the refresher's pending
 *   version: the late set of the refresher is never adopted, the next refresh sends the new grant's token.
 * - An administrator refresh of a profile with staged tokens reconciles them and refreshes, each write with
 *   its own request token (no version conflict, no re-staging).
 * - A pending version the vault never received is forgotten, and the next holder refreshes from the pointed
 *   set; a staging commit that gives up releases the lease.
 *
 * Nothing waits for time to pass: the broker's clock is moved, and refreshes are paused with gates.
 */
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { openStagedTokens } from '../../../lib/staging.js';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import { events, jsonBody } from '../../support/api-events.js';
import { env, faults, s, useLifecycleHooks } from './fixture.js';
import {
  adminRefreshEvent,
  authorizedProfile,
  consentRedirect,
  directBroker,
  finalCommit,
  interceptedStore,
  pausingFetch,
  putsTo,
  recordingRevocations,
  throttled,
} from './support.js';

useLifecycleHooks({ vaultFaults: true });

describe('a new authorization while a refresh is in flight', () => {
  it("wins: the refresher's late set B is never adopted, and the next refresh sends the new grant C's refresh token", async () => {
    // Prepare: an authorized profile (set A), due; a refresh paused after the server answered, holding the lease.
    const { id, authorized, before: a } = await authorizedProfile('callback-during-refresh');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const paused = pausingFetch();
    const tokenAnswer = paused.pauseNext('refresh_token');
    const run = s.scheduledRun(s.newBroker({ fetch: paused.fetch }));
    await tokenAnswer.reached;
    const leased = await s.record(id);
    expect(leased.lease).not.toBeNull();
    expect(leased.pendingVersion, 'the refresher recorded its pending version before asking').toEqual(expect.any(String));
    expect(await env.server.refreshTokenActive(a.refreshToken!), 'the server rotated A').toBe(false);

    // Act 1: a person completes a new consent for the same profile (set C), then the refresher resumes.
    const redirect = await consentRedirect(id, 'callback-during-refresh-user-again');
    const page = await createCallbackHandler(() => s.newBroker(), s.logger)(events.callback(redirect));
    expect(page.statusCode, page.body).toBe(200);
    const afterCallback = await s.record(id);
    expect(afterCallback.lease, 'the callback broke the lease').toBeNull();
    expect(afterCallback.pendingVersion, "the callback forgot the refresher's pending version").toBeUndefined();
    expect(afterCallback.tokenVersion).not.toBe(authorized.tokenVersion);
    const c = await s.heldTokens(id);
    tokenAnswer.open();
    const summary = await run;

    // Assess 1: the refresher wrote B (now the vault's current version) but could not commit.
    expect(summary.outcomes).toEqual({ failing: 1 });
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'refresh commit failed after the vault write', profileId: id }));
    const b = await s.vault.getTokenSet(id);
    expect(b).toBeDefined();
    expect(b!.refreshToken).not.toBe(c.refreshToken);
    expect(b!.refreshToken).not.toBe(a.refreshToken);
    expect(await env.server.refreshTokenActive(b!.refreshToken!)).toBe(true);
    const lagging = await s.record(id);
    expect(lagging.tokenVersion).toBe(afterCallback.tokenVersion);
    expect(lagging.pendingVersion).toBeUndefined();
    expect(lagging.lease).toBeNull();
    expect(lagging.status).toMatchObject({ state: 'ready', lastError: null });
    // A consumer is served C, not B.
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(c.accessToken);

    // Act 2: the next refresh, once C is due.
    s.clock.set(Date.parse(lagging.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const next = await s.scheduledRun(s.newBroker());

    // Assess 2: it refreshed C's grant (C's refresh token consumed, B's untouched), with no invalid_grant.
    expect(next.outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    expect(await env.server.refreshTokenActive(c.refreshToken!), "C's refresh token was the one sent").toBe(false);
    expect(await env.server.refreshTokenActive(b!.refreshToken!), "B's refresh token was never sent").toBe(true);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(after.pendingVersion).toBeUndefined();
    expect(after.lease).toBeNull();
    expect(after.tokenVersion).not.toBe(lagging.tokenVersion);
    const newest = await s.heldTokens(id);
    expect(newest.refreshToken).not.toBe(c.refreshToken);
    expect(newest.refreshToken).not.toBe(b!.refreshToken);
    expect(await env.server.refreshTokenActive(newest.refreshToken!)).toBe(true);
    expect(await env.server.introspect(newest.accessToken)).toBe(true);
    expect(s.logs.entries()).not.toContainEqual(expect.objectContaining({ message: 'adopted a token set whose commit was lost', profileId: id }));
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret, new URL(redirect).searchParams.get('code')]);
  });

  it("a DELETE after that race revokes the grant the profile points at (C), not the refresher's late set (B)", async () => {
    // Prepare: the same race, on a profile with a revocation endpoint; B ends up the vault's current set.
    const { id, authorized } = await authorizedProfile('delete-after-race', { revocationUrl: env.server.revocationEndpoint });
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    const paused = pausingFetch();
    const tokenAnswer = paused.pauseNext('refresh_token');
    const run = s.scheduledRun(s.newBroker({ fetch: paused.fetch }));
    await tokenAnswer.reached;
    const redirect = await consentRedirect(id, 'delete-after-race-user-again');
    expect((await createCallbackHandler(() => s.newBroker(), s.logger)(events.callback(redirect))).statusCode).toBe(200);
    const c = await s.heldTokens(id);
    tokenAnswer.open();
    expect((await run).outcomes).toEqual({ failing: 1 });
    const b = await s.vault.getTokenSet(id);
    expect(b!.refreshToken).not.toBe(c.refreshToken);
    const recording = recordingRevocations();

    // Act
    const deleted = await s.profilesHandler(s.newBroker({ fetch: recording.fetch }))(events.deleteProfile(id));

    // Assess: C's refresh token was sent to the revocation endpoint and is dead at the server.
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(recording.revoked).toContainEqual({ token: c.refreshToken, hint: 'refresh_token' });
    expect(await env.server.refreshTokenActive(c.refreshToken!)).toBe(false);
    expect(await env.server.introspect(c.accessToken)).toBe(false);
    s.expectLogsFreeOf([c.accessToken, c.refreshToken, b!.accessToken, b!.refreshToken, env.clients.code.clientSecret]);
  });
});

describe('an administrator refresh of a profile with staged tokens', () => {
  it('reconciles the staged set and refreshes, each with one failure-free vault write, and stages nothing again', async () => {
    // Prepare: a refresh whose 3 vault writes fail stages set B (sealed under A's refresh token); the vault heals.
    const { id, authorized, before: a } = await authorizedProfile('admin-on-staged');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    expect(faults.pending()).toBe(0);
    const staged = await s.record(id);
    expect(staged.stagedTokens).toEqual(expect.any(String));
    expect(staged.tokenVersion).toBe(authorized.tokenVersion);
    const b = openStagedTokens(staged.stagedTokens!, a.refreshToken!, id);
    expect(b?.refreshToken).toBeTruthy();
    expect(await env.server.refreshTokenActive(b!.refreshToken!)).toBe(true);
    const name = s.tokenSetName(id);
    const putsBefore = putsTo(name);
    const createsBefore = env.secrets.calls('CreateSecret');
    const versionsBefore = env.secrets.secrets.get(name)!.versions.size;
    const rejectedBefore = faults.rejected;
    const logsBefore = s.logs.entries().length;
    env.server.resetCounters();

    // Act: POST /profiles/{id}/refresh, before the staging backoff ends.
    expect(Date.parse(staged.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    const answer = await s.profilesHandler(s.newBroker())(adminRefreshEvent(id));

    // Assess: B written, then refreshed to a new set D; two writes, none refused, nothing staged again.
    expect(answer.statusCode, answer.body).toBe(200);
    const view = jsonBody<ProfileView>(answer);
    expect(view.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    const after = await s.record(id);
    expect(after.stagedTokens).toBeNull();
    expect(after.pendingVersion).toBeUndefined();
    expect(after.lease).toBeNull();
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    expect(putsTo(name) - putsBefore, 'one PutSecretValue for the staged set, one for the new set').toBe(2);
    expect(env.secrets.calls('CreateSecret')).toBe(createsBefore);
    expect(faults.rejected).toBe(rejectedBefore);
    expect(env.secrets.secrets.get(name)!.versions.size - versionsBefore).toBe(2);
    const newLogs = s.logs.entries().slice(logsBefore);
    expect(newLogs.filter((entry) => entry.message === 'vault write failed'), 'no refused vault write').toEqual([]);
    expect(newLogs.filter((entry) => entry.message === 'token set could not be written to the vault')).toEqual([]);
    expect(s.logs.text()).not.toMatch(/ResourceExists|TokenSetVersionConflict/);
    expect(newLogs).toContainEqual(expect.objectContaining({ message: 'staged tokens reconciled', profileId: id }));
    // The staged set is in the vault, and the refresh sent B's refresh token.
    expect(s.allTokensEverStored(id)).toContain(b!.accessToken);
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    expect(await env.server.refreshTokenActive(b!.refreshToken!)).toBe(false);
    const d = await s.heldTokens(id);
    expect(d).toEqual(await s.vault.getTokenSet(id));
    expect(d.accessToken).not.toBe(b!.accessToken);
    expect(await env.server.refreshTokenActive(d.refreshToken!)).toBe(true);
    expect(await env.server.introspect(d.accessToken)).toBe(true);
    expect(view.status.accessTokenExpiresAt).toBe(d.expiresAt);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});

describe('a pending version the vault never received', () => {
  it('is left on the profile with the lease released when the staging commit gives up; the next holder forgets it and refreshes from the pointed set', async () => {
    // Prepare: a due profile; the server answers a new set without rotating (no refresh_token in the answer),
    // every vault write is refused before anything is stored, and every final commit is throttled.
    const { id, authorized, before: a } = await authorizedProfile('pending-never-written');
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    const unwritten = `unwritten-access-token-${id}-0123456789`;
    env.server.failTokenEndpoint([{ status: 200, body: JSON.stringify({ access_token: unwritten, token_type: 'Bearer', expires_in: 3600 }) }]);
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    const versionsBefore = env.secrets.secrets.get(s.tokenSetName(id))!.versions.size;
    const store = interceptedStore(s.store, (options) => (finalCommit(options) ? throttled() : undefined));

    // Act 1
    const failed = await s.scheduledRun(directBroker({ store }));

    // Assess 1: nothing reached the vault; the profile names a pending version the vault lacks, and is free.
    expect(failed.outcomes).toEqual({ failing: 1 });
    expect(faults.pending()).toBe(0);
    expect(store.calls.filter(finalCommit), 'the staging commit was tried and gave up').toHaveLength(3);
    expect(env.secrets.secrets.get(s.tokenSetName(id))!.versions.size).toBe(versionsBefore);
    const lagging = await s.record(id);
    expect(lagging.pendingVersion).toEqual(expect.any(String));
    expect(await s.vault.getTokenSet(id, lagging.pendingVersion!)).toBeUndefined();
    expect(lagging.tokenVersion).toBe(authorized.tokenVersion);
    expect(lagging.stagedTokens).toBeNull();
    expect(lagging.lease, 'a commit that gives up releases the lease').toBeNull();
    expect(lagging.status).toEqual(authorized.status);
    expect(await env.server.refreshTokenActive(a.refreshToken!), 'A was not rotated').toBe(true);
    env.server.resetCounters();

    // Act 2: the next scheduled run, at once (the profile is still due; no lease to wait for).
    const next = await s.scheduledRun(s.newBroker());

    // Assess 2: the pending version was forgotten, not adopted; A's refresh token was sent and rotated.
    expect(next.outcomes).toEqual({ refreshed: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    expect(await env.server.refreshTokenActive(a.refreshToken!)).toBe(false);
    const after = await s.record(id);
    expect(after.pendingVersion).toBeUndefined();
    expect(after.lease).toBeNull();
    expect(after.tokenVersion).not.toBe(authorized.tokenVersion);
    expect(after.tokenVersion).not.toBe(lagging.pendingVersion);
    expect(after.status).toMatchObject({ state: 'ready', lastError: null, consecutiveFailures: 0 });
    const held = await s.heldTokens(id);
    expect(held.accessToken).not.toBe(unwritten);
    expect(held.refreshToken).not.toBe(a.refreshToken);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(s.logs.entries()).not.toContainEqual(expect.objectContaining({ message: 'adopted a token set whose commit was lost', profileId: id }));
    s.expectLogsFreeOf([...s.allTokensEverStored(id), unwritten, env.clients.code.clientSecret]);
  });
});
