/**
 * Deleting profiles (second review of the refresh path): a profile being deleted (a DELETE that failed
 * half-way, simulated with `store.markDeleting`) is gone for every route but DELETE itself, which can finish
 * it; and a DELETE revokes the refresh token of a staged token set, which the vault never held.
 */
import { describe, expect, it } from 'vitest';
import type { ProfileView } from '../../../lib/profile.js';
import { openStagedTokens } from '../../../lib/staging.js';
import { createHandler as createAuthorizeUrlHandler } from '../../../lambdas/authorize-url.js';
import { events, jsonBody } from '../../support/api-events.js';
import { env, faults, s, useLifecycleHooks } from './fixture.js';
import { adminRefreshEvent, authorizedProfile, recordingRevocations, secretsOf } from './support.js';

useLifecycleHooks({ vaultFaults: true });

describe('a profile being deleted', () => {
  it('is 404 for GET, POST /refresh, authorize-url and token, missing from GET /profiles; DELETE again → 204 and it is gone', async () => {
    // Prepare: two authorized profiles; the first one's DELETE stopped after its first step.
    const { id, authorized } = await authorizedProfile('being-deleted');
    const { id: otherId } = await authorizedProfile('kept');
    expect(await s.store.markDeleting(id)).toBe(true);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();
    const profiles = s.profilesHandler(s.newBroker());
    const authorizeUrl = createAuthorizeUrlHandler(() => s.newBroker(), s.logger);

    // Act
    const get = await profiles(events.getProfile(id));
    const list = await profiles(events.listProfiles());
    const refresh = await profiles(adminRefreshEvent(id));
    const url = await authorizeUrl(events.authorizeUrl(id));
    const token = await s.tokenHandler(s.newBroker())(events.token(id));

    // Assess
    for (const [route, answer] of [['GET /profiles/{id}', get], ['POST /refresh', refresh], ['authorize-url', url], ['token', token]] as const) {
      expect(answer.statusCode, `${route}: ${answer.body}`).toBe(404);
      expect(jsonBody(answer), route).toMatchObject({ error: 'not_found' });
    }
    expect(list.statusCode, list.body).toBe(200);
    const listed = jsonBody<{ profiles: ProfileView[] }>(list).profiles.map((view) => view.id);
    expect(listed).toContain(otherId);
    expect(listed).not.toContain(id);
    expect(env.server.tokenRequests, 'no token request for a profile being deleted').toHaveLength(0);
    const fenced = await s.record(id);
    expect(fenced.deleting).toBe(true);
    expect(fenced.tokenVersion).toBe(authorized.tokenVersion);

    // Act: the repeated DELETE
    const deleted = await profiles(events.deleteProfile(id));

    // Assess
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await s.store.getProfile(id)).toBeUndefined();
    expect(secretsOf(id)).toEqual([]);
    const gone = await profiles(events.getProfile(id));
    expect(gone.statusCode, gone.body).toBe(404);
    const again = await profiles(events.deleteProfile(id));
    expect(again.statusCode, again.body).toBe(404);
    // The other profile is untouched.
    const other = await profiles(events.getProfile(otherId));
    expect(other.statusCode, other.body).toBe(200);
    s.expectLogsFreeOf([env.clients.code.clientSecret]);
  });
});

describe('DELETE of a profile with staged tokens', () => {
  it("revokes the staged set's refresh token (the live one), not only the vault's set", async () => {
    // Prepare: a refresh whose vault writes all fail stages set B, sealed under A's refresh token.
    const { id, authorized, before: a } = await authorizedProfile('delete-staged', { revocationUrl: env.server.revocationEndpoint });
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    faults.failNext(3, (secretId) => secretId === s.tokenSetName(id));
    expect((await s.scheduledRun()).outcomes).toEqual({ failing: 1 });
    const staged = await s.record(id);
    expect(staged.stagedTokens).toEqual(expect.any(String));
    const b = openStagedTokens(staged.stagedTokens!, a.refreshToken!, id);
    expect(b?.refreshToken).toBeTruthy();
    expect(await s.vault.getTokenSet(id), 'the vault never held B').toEqual(a);
    expect(await env.server.refreshTokenActive(b!.refreshToken!)).toBe(true);
    const recording = recordingRevocations();

    // Act
    const deleted = await s.profilesHandler(s.newBroker({ fetch: recording.fetch }))(events.deleteProfile(id));

    // Assess
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(recording.revoked).toContainEqual({ token: b!.refreshToken, hint: 'refresh_token' });
    expect(await env.server.refreshTokenActive(b!.refreshToken!)).toBe(false);
    expect(await env.server.introspect(b!.accessToken)).toBe(false);
    expect(s.logs.entries().filter((entry) => entry.message === 'token revoked' && entry['profileId'] === id)).toHaveLength(recording.revoked.length);
    expect(await s.store.getProfile(id)).toBeUndefined();
    expect(secretsOf(id)).toEqual([]);
    s.expectLogsFreeOf([a.accessToken, a.refreshToken, b!.accessToken, b!.refreshToken, env.clients.code.clientSecret]);
  });
});
