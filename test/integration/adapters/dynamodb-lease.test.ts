/**
 * The refresh lease of the DynamoDB profile store on dynalite (real conditional-write semantics): one
 * holder at a time, takeover after expiry, commits conditional on still holding it, release by the owner
 * only, and the revision bump that protects a concurrent profile replacement.
 */
import { describe, expect, it } from 'vitest';
import { ConditionFailedError } from '../../../lib/ports.js';
import type { ProfileRecord } from '../../../lib/profile.js';
import { LEASE_MS, T0, created, freshId, grantOf, iso, read, readyStatus, store, useProfileTable } from './fixture.js';

const TABLE = 'lease-test';
useProfileTable(TABLE);

describe('DynamoDbProfileStore lease', () => {
  it('two concurrent acquireLease calls: exactly one wins, and the item names it', async () => {
    const { id } = await created('race');
    const results = await Promise.all(
      ['owner-a', 'owner-b'].map((owner) => store.acquireLease(id, owner, { now: T0, durationMs: LEASE_MS })),
    );
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    expect(winner.lease).toEqual({ owner: expect.stringMatching(/^owner-[ab]$/), expiresAt: T0 + LEASE_MS });
    expect((await read(id)).lease).toEqual(winner.lease);
  });

  it('many concurrent acquireLease calls: still exactly one winner', async () => {
    const { id } = await created('crowd');
    const owners = Array.from({ length: 20 }, (_, i) => `owner-${i}`);
    const results = await Promise.all(owners.map((owner) => store.acquireLease(id, owner, { now: T0, durationMs: LEASE_MS })));
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
  });

  it('a held lease refuses others until it expires; an expired lease can be taken', async () => {
    const { id } = await created('expiry');
    expect((await store.acquireLease(id, 'first', { now: T0, durationMs: LEASE_MS }))?.lease?.owner).toBe('first');
    // Still held, even by the same owner asking again.
    expect(await store.acquireLease(id, 'second', { now: T0 + LEASE_MS - 1, durationMs: LEASE_MS })).toBeUndefined();
    expect(await store.acquireLease(id, 'first', { now: T0 + 1, durationMs: LEASE_MS })).toBeUndefined();
    // Expired at exactly its expiry instant.
    const taken = await store.acquireLease(id, 'second', { now: T0 + LEASE_MS, durationMs: LEASE_MS });
    expect(taken?.lease).toEqual({ owner: 'second', expiresAt: T0 + 2 * LEASE_MS });
    expect((await read(id)).lease?.owner).toBe('second');
  });

  it('acquireLease on a missing profile answers undefined and creates nothing', async () => {
    const id = freshId('missing');
    expect(await store.acquireLease(id, 'owner', { now: T0, durationMs: LEASE_MS })).toBeUndefined();
    expect(await store.getProfile(id)).toBeUndefined();
  });

  it('updateStatus fenced by the lease commits (and releases) while the lease is held', async () => {
    const { id } = await created('commit');
    await store.acquireLease(id, 'holder', { now: T0, durationMs: LEASE_MS });
    const status = readyStatus(iso(T0 + 100 * 60_000));
    const written = await store.updateStatus(id, { status, tokenVersion: 'v-2' }, { now: iso(T0 + 1000), fence: { owner: 'holder', then: 'release' } });
    expect(written.status).toEqual(status);
    expect(written.tokenVersion).toBe('v-2');
    expect(written.lease).toBeNull();
    expect((await read(id)).lease).toBeNull();
  });

  it('updateStatus fenced by the lease (then keep) commits and keeps the lease', async () => {
    const { id } = await created('keep');
    await store.acquireLease(id, 'holder', { now: T0, durationMs: LEASE_MS });
    const written = await store.updateStatus(id, { status: readyStatus(), stagedTokens: null }, {
      now: iso(T0 + 1000),
      fence: { owner: 'holder', then: 'keep' },
    });
    expect(written.lease).toEqual({ owner: 'holder', expiresAt: T0 + LEASE_MS });
  });

  it('updateStatus fenced by the lease fails with ConditionFailedError once the lease expired, and changes nothing', async () => {
    const { id } = await created('late');
    await store.acquireLease(id, 'slow', { now: T0, durationMs: LEASE_MS });
    const before = await read(id);
    for (const late of [T0 + LEASE_MS, T0 + LEASE_MS + 1]) {
      await expect(
        store.updateStatus(id, { status: readyStatus(null), tokenVersion: 'v-late' }, { now: iso(late), fence: { owner: 'slow', then: 'release' } }),
      ).rejects.toBeInstanceOf(ConditionFailedError);
    }
    expect(await read(id)).toEqual(before);
  });

  it('updateStatus fenced by the lease fails when another owner holds the lease (the old holder cannot overwrite the new one)', async () => {
    const { id } = await created('overtaken');
    await store.acquireLease(id, 'old', { now: T0, durationMs: LEASE_MS });
    await store.acquireLease(id, 'new', { now: T0 + LEASE_MS + 5, durationMs: LEASE_MS });
    const newer = await store.updateStatus(id, { status: readyStatus(), tokenVersion: 'v-new' }, {
      now: iso(T0 + LEASE_MS + 10),
      fence: { owner: 'new', then: 'keep' },
    });
    await expect(
      store.updateStatus(id, { status: readyStatus(null), tokenVersion: 'v-old' }, { now: iso(T0 + LEASE_MS + 20), fence: { owner: 'old', then: 'release' } }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    const after = await read(id);
    expect(after.tokenVersion).toBe('v-new');
    expect(after.revision).toBe(newer.revision);
    expect(after.lease?.owner).toBe('new');
  });

  it('updateStatus fenced by the lease fails when nobody holds the lease', async () => {
    const { id } = await created('unleased');
    await expect(
      store.updateStatus(id, { status: readyStatus() }, { now: iso(T0), fence: { owner: 'nobody', then: 'release' } }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it('releaseLease by a non-owner does nothing; by the owner it frees the lease', async () => {
    const { id } = await created('release');
    await store.acquireLease(id, 'owner', { now: T0, durationMs: LEASE_MS });
    const held = await read(id);
    await expect(store.releaseLease(id, 'intruder')).resolves.toBeUndefined();
    expect(await read(id)).toEqual(held);
    expect(await store.acquireLease(id, 'intruder', { now: T0 + 1, durationMs: LEASE_MS })).toBeUndefined();

    await store.releaseLease(id, 'owner');
    const released = await read(id);
    expect(released.lease).toBeNull();
    expect(released.revision).toBe(held.revision + 1);
    // A second release (or one for a profile without a lease) is harmless.
    await expect(store.releaseLease(id, 'owner')).resolves.toBeUndefined();
    expect(await read(id)).toEqual(released);
    // Free again: anyone can take it before the old expiry.
    expect((await store.acquireLease(id, 'next', { now: T0 + 2, durationMs: LEASE_MS }))?.lease?.owner).toBe('next');
  });

  it('acquiring bumps the revision, so a putProfile with the revision read before fails', async () => {
    const original = await created('revision');
    expect((await read(original.id)).revision).toBe(1);
    const leased = await store.acquireLease(original.id, 'holder', { now: T0, durationMs: LEASE_MS });
    expect(leased?.revision).toBe(2);

    // A profile replacement based on the revision read before the lease was taken.
    const replacement: ProfileRecord = { ...original, config: { ...original.config, scope: 'openid' }, revision: 2 };
    await expect(store.putProfile(replacement, 1, grantOf(replacement))).rejects.toBeInstanceOf(ConditionFailedError);
    const after = await read(original.id);
    expect(after.config.scope).toBe('openid offline_access');
    expect(after.lease?.owner).toBe('holder');

    // With the current revision (and the lease carried over) it goes through.
    await store.putProfile({ ...replacement, revision: 3, lease: after.lease }, 2, grantOf(replacement));
    expect((await read(original.id)).lease?.owner).toBe('holder');
  });

  it('listDueProfiles follows the status written under the lease', async () => {
    const due = await created('due', { status: readyStatus(iso(T0 - 1000)) });
    const listed = async () => (await store.listDueProfiles(iso(T0))).map((r) => r.id);
    expect(await listed()).toContain(due.id);

    // Leasing does not change what is due.
    await store.acquireLease(due.id, 'holder', { now: T0, durationMs: LEASE_MS });
    expect(await listed()).toContain(due.id);

    // A commit that moves nextRefreshAt into the future takes it off the due list…
    await store.updateStatus(due.id, { status: readyStatus(iso(T0 + 3_000_000)) }, { now: iso(T0 + 10), fence: { owner: 'holder', then: 'release' } });
    expect(await listed()).not.toContain(due.id);
    expect((await store.listDueProfiles(iso(T0 + 3_000_000))).map((r) => r.id)).toContain(due.id);

    // …and one without nextRefreshAt (e.g. authorization_required) takes it off the index for good.
    await store.acquireLease(due.id, 'holder-2', { now: T0 + 20, durationMs: LEASE_MS });
    await store.updateStatus(due.id, { status: { ...readyStatus(null), state: 'authorization_required' } }, {
      now: iso(T0 + 30),
      fence: { owner: 'holder-2', then: 'release' },
    });
    expect((await store.listDueProfiles(iso(T0 + 365 * 86_400_000))).map((r) => r.id)).not.toContain(due.id);
  });
});
