/**
 * One refresh at a time per profile, across all instances: many token requests on
 * several broker instances plus concurrent scheduled runs refresh once; a lease holder that dies blocks
 * refreshes only until its lease expires.
 */
import { describe, expect, it } from 'vitest';
import type { TokenResponse } from '../../../lib/broker.js';
import { ConditionFailedError } from '../../../lib/ports.js';
import { events, header, jsonBody } from '../../support/api-events.js';
import { env, s, useLifecycleHooks } from './fixture.js';

/**
 * Losers poll the lease with the refresher's own backoff (100 ms doubling), capped at 100 ms of real time:
 * dozens of pollers at a 20 ms cadence would mostly load dynalite and slow the winner down.
 */
const pollSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 100)));

useLifecycleHooks({ brokerOverrides: { sleep: pollSleep } });

describe('one refresh at a time per profile', () => {
  it('50 concurrent token requests on 5 instances and two concurrent scheduled runs make exactly one refresh grant', async () => {
    const id = s.newId('busy');
    // Issuer-configured: endpoints discovered, the refreshed ID token validated by oauth4webapi.
    await s.createProfile(id, { issuer: env.server.issuer, authorizationUrl: undefined, tokenUrl: undefined });
    await s.authorize(id, 'busy-user');
    const authorized = await s.record(id);
    const before = await s.heldTokens(id);
    expect(authorized.status.state).toBe('ready');
    expect(before.refreshToken).toBeTruthy();

    // 30 s before expiry: inside the margin (due for the scheduler) and not valid for the default 60 s.
    s.clock.set(Date.parse(before.expiresAt) - 30_000);
    expect(Date.parse(authorized.status.nextRefreshAt!)).toBeLessThan(s.clock());
    env.server.resetCounters();

    const tokenHandlers = Array.from({ length: 5 }, () => s.tokenHandler(s.newBroker()));
    const schedulers = [s.newBroker(), s.newBroker()];
    const [answers, summaries] = await Promise.all([
      Promise.all(tokenHandlers.flatMap((handler) => Array.from({ length: 10 }, () => handler(events.token(id))))),
      Promise.all(schedulers.map((broker) => s.scheduledRun(broker))),
    ]);

    // Exactly one refresh_token grant reached the server, and the rotation never tripped.
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    expect(env.server.tokenRequests).toHaveLength(1);

    // 50 answers, all the one new token, which the server accepts.
    expect(answers.map((answer) => answer.statusCode), answers.find((a) => a.statusCode !== 200)?.body).toEqual(Array(50).fill(200));
    const bodies = answers.map((answer) => jsonBody<TokenResponse>(answer));
    const tokens = new Set(bodies.map((body) => body.access_token));
    expect(tokens.size).toBe(1);
    const [token] = [...tokens];
    expect(token).not.toBe(before.accessToken);
    expect(await env.server.introspect(token!)).toBe(true);
    for (const [i, body] of bodies.entries()) {
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_at', 'expires_in', 'scope', 'token_type']);
      expect(body.expires_in).toBeGreaterThanOrEqual(60);
      expect(header(answers[i]!, 'cache-control')).toBe('no-store');
    }

    // The scheduled runs either lost the lease, found nothing due, or did the one refresh.
    for (const summary of summaries) {
      for (const outcome of Object.keys(summary.outcomes)) expect(['lease_busy', 'not_needed', 'refreshed']).toContain(outcome);
    }

    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', consecutiveFailures: 0, lastError: null, hasRefreshToken: true });
    expect(after.lease).toBeNull();
    expect(after.stagedTokens).toBeNull();
    expect(after.tokenVersion).not.toBe(authorized.tokenVersion);
    expect(Date.parse(after.status.nextRefreshAt!)).toBeGreaterThan(s.clock());
    const held = await s.heldTokens(id);
    expect(held.accessToken).toBe(token);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.refreshTokenActive(held.refreshToken!)).toBe(true);
    expect(await env.server.refreshTokenActive(before.refreshToken!)).toBe(false);
    // The vault got exactly one new version for the one refresh (plus the authorization's).
    expect(env.secrets.secrets.get(s.tokenSetName(id))?.versions.size).toBe(2);

    // ready → ready is no status change: the only event is the authorization.
    expect(s.changes(id).map(({ from, to }) => [from, to])).toEqual([['authorization_required', 'ready']]);
    expect(s.logs.entries().filter((entry) => entry['message'] === 'token refreshed')).toHaveLength(1);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it.each([
    ['the token endpoint answers 503', 'outage', 503, 'temporarily_unavailable'],
    ['the grant was revoked at the server', 'revoked', 409, 'authorization_required'],
  ] as const)('when %s, 40 concurrent token requests on 4 instances make one grant attempt, not a retry storm', async (_label, kind, status, error) => {
    const id = s.newId(`storm-${kind}`);
    const login = `storm-${kind}-user`;
    await s.createProfile(id);
    await s.authorize(id, login);
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(before.expiresAt) - 30_000);
    env.server.resetCounters();
    if (kind === 'outage') env.server.failTokenEndpoint([{ status: 503, body: 'down' }]);
    else expect(await env.server.revokeGrantsFor(env.clients.code.clientId, login)).toBeGreaterThanOrEqual(1);

    const handlers = Array.from({ length: 4 }, () => s.tokenHandler(s.newBroker()));
    const answers = await Promise.all(handlers.flatMap((handler) => Array.from({ length: 10 }, () => handler(events.token(id)))));

    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.pendingFailures()).toBe(0);
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(40).fill(status));
    for (const answer of answers) expect(jsonBody(answer)).toMatchObject({ error });
    if (status === 503) for (const answer of answers) expect(Number(header(answer, 'retry-after'))).toBeGreaterThanOrEqual(1);
    const after = await s.record(id);
    expect(after.status.state).toBe(kind === 'outage' ? 'refresh_failing' : 'authorization_required');
    expect(after.status.consecutiveFailures).toBe(1);
    expect(after.lease).toBeNull();
    expect(s.changes(id)).toHaveLength(2);
    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });

  it('a lease holder that dies without releasing blocks refreshes until its lease expires; then the next run takes over', async () => {
    const id = s.newId('dead-lease');
    await s.createProfile(id);
    await s.authorize(id, 'dead-lease-user');
    const authorized = await s.record(id);
    const before = await s.heldTokens(id);
    s.clock.set(Date.parse(authorized.status.nextRefreshAt!) + 1000);
    env.server.resetCounters();

    // A container takes the lease and crashes: it never refreshes, commits or releases.
    const crashed = await s.store.acquireLease(id, 'crashed-container', { now: s.clock(), durationMs: 60_000 });
    expect(crashed?.lease?.owner).toBe('crashed-container');
    const leaseExpiresAt = crashed!.lease!.expiresAt;

    const blocked = await s.scheduledRun();
    expect(blocked).toMatchObject({ due: 1, attempted: 1, outcomes: { lease_busy: 1 } });
    expect(Object.keys(blocked.outcomes)).toEqual(['lease_busy']);
    expect(env.server.grantCount('refresh_token')).toBe(0);

    // A token request that needs a refresh meanwhile waits (bounded), then answers 503 without a grant.
    const impatient = s.tokenHandler(s.newBroker({ maxWaitMs: 150 }));
    const waited = await impatient(events.token(id, { minValiditySeconds: '3600' }));
    expect(waited.statusCode, waited.body).toBe(503);
    expect(jsonBody(waited)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(header(waited, 'retry-after'))).toBeGreaterThanOrEqual(1);
    // One that the held token satisfies is served as usual.
    const served = await s.tokenHandler(s.newBroker())(events.token(id));
    expect(served.statusCode, served.body).toBe(200);
    expect(jsonBody<TokenResponse>(served).access_token).toBe(before.accessToken);
    expect(env.server.grantCount('refresh_token')).toBe(0);

    // Still before the lease expires: still blocked.
    s.clock.set(leaseExpiresAt - 1000);
    expect((await s.scheduledRun()).outcomes).toEqual({ lease_busy: 1 });
    expect(env.server.grantCount('refresh_token')).toBe(0);

    // After the lease expired, the next run takes over and refreshes.
    s.clock.set(leaseExpiresAt + 1000);
    const takeover = await s.scheduledRun();
    expect(takeover).toMatchObject({ due: 1, attempted: 1, outcomes: { refreshed: 1 } });
    expect(env.server.grantCount('refresh_token')).toBe(1);
    expect(env.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(0);
    const after = await s.record(id);
    expect(after.status).toMatchObject({ state: 'ready', consecutiveFailures: 0, lastError: null });
    expect(after.lease).toBeNull();
    const held = await s.heldTokens(id);
    expect(held.refreshToken).not.toBe(before.refreshToken);
    expect(await env.server.introspect(held.accessToken)).toBe(true);

    // The crashed holder, were it to come back, can no longer commit over the new result.
    await expect(
      s.store.updateStatus(id, { status: authorized.status, tokenVersion: authorized.tokenVersion }, {
        now: new Date(s.clock()).toISOString(),
        fence: { owner: 'crashed-container', then: 'release' },
      }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    expect((await s.record(id)).tokenVersion).toBe(after.tokenVersion);

    s.expectLogsFreeOf([...s.allTokensEverStored(id), env.clients.code.clientSecret]);
  });
});
