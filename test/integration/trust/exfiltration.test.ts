/**
 * Credentials bound to the endpoints they were given for (docs/api.md), against the Lambda handlers under the cloud URL policy: whoever may edit a profile
 * cannot make the broker send the stored client secret, a refresh token, a code or a PKCE verifier to a
 * host of their choosing. Each test asserts what the attacker's server RECEIVED, and what the real server did.
 */
import { describe, expect, it } from 'vitest';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import { events, jsonBody } from '../../support/api-events.js';
import { snapshotSecrets } from '../../support/store-snapshot.js';
import { env, s } from '../lifecycle/fixture.js';
import { adminRefreshEvent } from '../lifecycle/support.js';
import { AS, HOSTILE, authorizedAtRealServer, consentAtRealServer, hostile, realProfileBody, useTrustHooks } from './support.js';

useTrustHooks();

const ATTACKER_SECRET = 'attacker-chosen-secret-0123456789';

/** A body without `clientSecret`, as an editor who does not know it sends. */
function withoutSecret(overrides: Record<string, unknown>): Record<string, unknown> {
  const body = realProfileBody(overrides);
  delete body['clientSecret'];
  return body;
}

describe('an editor who does not know the client secret', () => {
  it('cannot move tokenUrl, issuer, authorizationUrl or revocationUrl elsewhere; the token request, refresh, an attacker\'s code and DELETE that follow reach only the real server', async () => {
    // Prepare
    const id = await authorizedAtRealServer('exfil');
    const held = await s.heldTokens(id);
    expect(held.revocationEndpoint).toBe(`${AS}/token/revocation`);
    const recordBefore = await s.record(id);
    const secretsBefore = snapshotSecrets(env.secrets);

    // Act: every endpoint moved to the attacker's host, without the secret
    const moves: Array<[string, string]> = [
      ['tokenUrl', `${HOSTILE}/token`],
      ['issuer', HOSTILE],
      ['authorizationUrl', `${HOSTILE}/authorize`],
      ['revocationUrl', `${HOSTILE}/revoke`],
    ];
    const answers = [];
    for (const [field, value] of moves) answers.push([field, await s.profilesHandler()(events.putProfile(id, withoutSecret({ [field]: value })))] as const);

    // Assess: each refused, naming the field, and nothing stored changed
    for (const [field, answer] of answers) {
      expect(answer.statusCode, answer.body).toBe(400);
      expect(jsonBody(answer)).toEqual({ error: 'invalid_request', message: expect.stringContaining(`${field} moves to another origin`) });
    }
    expect(await s.record(id)).toEqual(recordBefore);
    expect(snapshotSecrets(env.secrets)).toEqual(secretsBefore);

    // Act: what the editor would try next
    s.clock.set(Date.parse(held.expiresAt) - 30_000);
    const token = await s.tokenHandler(s.newBroker())(events.token(id));
    const refreshed = await s.profilesHandler(s.newBroker())(adminRefreshEvent(id));
    const { authorizationUrl } = await s.broker.createAuthorizationUrl(id);
    const state = new URL(authorizationUrl).searchParams.get('state')!;
    const page = await createCallbackHandler(() => s.newBroker(), s.logger)(events.callback(new URLSearchParams({ code: 'attacker-code-0123456789', state })));
    const latest = await s.heldTokens(id);
    const deleted = await s.profilesHandler()(events.deleteProfile(id));

    // Assess: the real server did all of it; the attacker's server received nothing at all
    expect(token.statusCode, token.body).toBe(200);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(env.server.grantCount('refresh_token')).toBe(2);
    expect(page.statusCode).toBe(400);
    expect(env.server.grantErrorCount('authorization_code', 'invalid_grant')).toBe(1);
    expect(deleted.statusCode).toBe(204);
    expect(await env.server.refreshTokenActive(latest.refreshToken!)).toBe(false);
    expect(hostile.received).toEqual([]);
    s.expectLogsFreeOf([env.clients.code.clientSecret, ...s.allTokensEverStored(id)]);
  });

  it('who gives a secret of their own with a new tokenUrl gets the old tokens revoked at the real server first, and neither the stored secret, a refresh token nor a pending authorization\'s code and verifier', async () => {
    // Prepare: an authorized profile, and an authorization started (and consented) before the edit
    const id = await authorizedAtRealServer('own-secret');
    const held = await s.heldTokens(id);
    const redirect = await consentAtRealServer(id, 'own-secret-user');
    const code = redirect.searchParams.get('code')!;
    const verifier = (await s.store.getPendingAuthorization(redirect.searchParams.get('state')!))!.codeVerifier!;
    const exchangesBefore = env.server.grantCount('authorization_code');

    // Act: the edit
    const put = await s.profilesHandler()(events.putProfile(id, realProfileBody({ tokenUrl: `${HOSTILE}/token`, clientSecret: ATTACKER_SECRET })));

    // Assess: accepted, the tokens discarded after being revoked at the server that issued them
    expect(put.statusCode, put.body).toBe(200);
    expect(jsonBody<{ status: { state: string } }>(put).status.state).toBe('authorization_required');
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(false);
    expect(s.changes(id).at(-1)).toMatchObject({ from: 'ready', to: 'authorization_required', changed: ['tokenUrl', 'clientSecret'], tokensDiscarded: true });

    // Act: the pending authorization completes after the edit; then a token request and DELETE
    const page = await createCallbackHandler(() => s.newBroker(), s.logger)(events.callback(redirect));
    const token = await s.tokenHandler(s.newBroker())(events.token(id));
    const deleted = await s.profilesHandler()(events.deleteProfile(id));

    // Assess: the code and verifier went nowhere; the attacker's server received nothing
    expect(page.statusCode).toBe(400);
    expect(page.body).toMatch(/changed after this authorization started/);
    expect(token.statusCode).toBe(409);
    expect(deleted.statusCode).toBe(204);
    expect(env.server.grantCount('authorization_code')).toBe(exchangesBefore);
    expect(hostile.received).toEqual([]);
    const seen = hostile.receivedText();
    for (const value of [env.clients.code.clientSecret, held.refreshToken!, held.accessToken, code, verifier]) expect(seen).not.toContain(value);
  });

  it('records the lastError of a pending authorization refused after the edit', async () => {
    // Prepare
    const id = await authorizedAtRealServer('pending-bound');
    const redirect = await consentAtRealServer(id, 'pending-bound-user');
    const exchangesBefore = env.server.grantCount('authorization_code');
    await s.profilesHandler()(events.putProfile(id, realProfileBody({ clientId: 'lifecycle-machine', clientSecret: env.clients.machine.clientSecret })));

    // Act
    const page = await createCallbackHandler(() => s.newBroker(), s.logger)(events.callback(redirect));

    // Assess
    expect(page.statusCode).toBe(400);
    expect((await s.record(id)).status.lastError).toMatchObject({ code: 'profile_changed', message: expect.stringMatching(/changed after this authorization started/) });
    expect(env.server.grantCount('authorization_code')).toBe(exchangesBefore);
  });
});

describe('an administrator who moves revocationUrl with the secret', () => {
  it('keeps the tokens, and DELETE revokes them where they were issued, not at the new endpoint', async () => {
    // Prepare
    const id = await authorizedAtRealServer('revocation-moved');
    const held = await s.heldTokens(id);

    // Act
    const put = await s.profilesHandler()(events.putProfile(id, realProfileBody({ revocationUrl: `${HOSTILE}/revoke` })));
    const deleted = await s.profilesHandler()(events.deleteProfile(id));

    // Assess
    expect(put.statusCode, put.body).toBe(200);
    expect(jsonBody<{ status: { state: string } }>(put).status.state).toBe('ready');
    expect(s.changes(id).at(-1)).toMatchObject({ from: 'ready', to: 'ready', changed: ['revocationUrl'], tokensDiscarded: false });
    expect(deleted.statusCode).toBe(204);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(false);
    expect(hostile.received).toEqual([]);
  });
});

describe('a token set stored before revocation endpoints were recorded', () => {
  it('is revoked at the profile\'s revocationUrl only when that is on the token endpoint\'s origin', async () => {
    // Prepare: an authorized profile whose stored sets carry no recorded endpoint, as older sets do
    const id = await authorizedAtRealServer('legacy-set');
    const held = await s.heldTokens(id);
    for (const version of env.secrets.secrets.get(s.tokenSetName(id))!.versions.values()) {
      const set = JSON.parse(version.secretString) as Record<string, unknown>;
      delete set['revocationEndpoint'];
      version.secretString = JSON.stringify(set);
    }
    const put = await s.profilesHandler()(events.putProfile(id, realProfileBody({ revocationUrl: `${HOSTILE}/revoke` })));
    expect(put.statusCode, put.body).toBe(200);

    // Act
    const deleted = await s.profilesHandler()(events.deleteProfile(id));

    // Assess: not sent to the new host; not revoked at all (the server keeps it until it expires)
    expect(deleted.statusCode).toBe(204);
    expect(hostile.received).toEqual([]);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(s.logs.entries()).toContainEqual(expect.objectContaining({ message: 'token not revoked: no revocation endpoint', profileId: id }));
  });
});
