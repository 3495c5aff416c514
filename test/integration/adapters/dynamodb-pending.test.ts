/**
 * `pendingVersion` in the DynamoDB profile store, on dynalite (real update-expression and condition
 * semantics): the vault version a lease holder is about to write. `updateStatus` sets it, keeps it when the
 * update leaves it `undefined` and removes it on `null`; a broken lease (a person's new authorization) takes
 * it away unless the update names one; records round-trip it through `putProfile`, `getProfile` and the
 * list queries, and an item carries the attribute only while the record does.
 */
import { describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ConditionFailedError } from '../../../lib/ports.js';
import type { ProfileRecord } from '../../../lib/profile.js';
import { LEASE_MS, T0, created, db, grantOf, iso, read, readyStatus, record, freshId, store, useProfileTable } from './fixture.js';

const TABLE = 'pending-version-test';
useProfileTable(TABLE);

async function rawItem(id: string): Promise<Record<string, unknown>> {
  const out = await db.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `PROFILE#${id}`, sk: 'PROFILE' }, ConsistentRead: true }));
  expect(out.Item, `item of ${id}`).toBeDefined();
  return out.Item!;
}

const now = (ms = 1000) => iso(T0 + ms);

describe('updateStatus and pendingVersion', () => {
  it('sets it under the lease (keeping the lease), keeps it when undefined, and removes it on null', async () => {
    // Prepare
    const { id } = await created('set-remove');
    const leased = await store.acquireLease(id, 'holder', { now: T0, durationMs: LEASE_MS });
    expect(leased?.pendingVersion).toBeUndefined();

    // Act
    const marked = await store.updateStatus(id, { status: leased!.status, pendingVersion: 'pending-1' }, { now: now(), fence: { owner: 'holder', then: 'keep' } });
    const kept = await store.updateStatus(id, { status: readyStatus(iso(T0 + 55 * 60_000)) }, { now: now(2000), fence: { owner: 'holder', then: 'keep' } });
    const keptItem = await rawItem(id);
    const cleared = await store.updateStatus(id, { status: kept.status, pendingVersion: null }, { now: now(3000), fence: { owner: 'holder', then: 'keep' } });

    // Assess
    expect(marked.pendingVersion).toBe('pending-1');
    expect(marked.lease).toEqual({ owner: 'holder', expiresAt: T0 + LEASE_MS });
    expect(kept.pendingVersion).toBe('pending-1');
    expect(keptItem['pendingVersion']).toBe('pending-1');
    expect(cleared.pendingVersion).toBeUndefined();
    expect('pendingVersion' in cleared).toBe(false);
    expect(cleared.lease).toEqual({ owner: 'holder', expiresAt: T0 + LEASE_MS });
    expect((await read(id)).pendingVersion).toBeUndefined();
    expect('pendingVersion' in (await rawItem(id))).toBe(false);
  });

  it('sets it together with the token pointer and the staged tokens in one write', async () => {
    // Prepare
    const { id } = await created('with-pointers', { stagedTokens: 'v1.sealed' });

    // Act
    const written = await store.updateStatus(id, { status: readyStatus(), tokenVersion: 'v-2', stagedTokens: null, pendingVersion: 'pending-2' }, { now: now() });

    // Assess
    expect(written).toMatchObject({ tokenVersion: 'v-2', stagedTokens: null, pendingVersion: 'pending-2' });
    expect(await read(id)).toStrictEqual(written);
  });

  it('a final commit that leaves it undefined keeps it (a lost commit is adopted later); one that clears it removes it', async () => {
    // Prepare
    const { id } = await created('final-commit');
    await store.acquireLease(id, 'holder', { now: T0, durationMs: LEASE_MS });
    await store.updateStatus(id, { status: readyStatus(), pendingVersion: 'pending-3' }, { now: now(), fence: { owner: 'holder', then: 'keep' } });

    // Act: releases the lease without naming pendingVersion
    const released = await store.updateStatus(id, { status: readyStatus() }, { now: now(2000), fence: { owner: 'holder', then: 'release' } });

    // Assess
    expect(released.lease).toBeNull();
    expect(released.pendingVersion).toBe('pending-3');

    // Act: the next holder commits and clears it
    await store.acquireLease(id, 'next', { now: T0 + 3000, durationMs: LEASE_MS });
    const committed = await store.updateStatus(id, { status: readyStatus(), tokenVersion: 'pending-3', pendingVersion: null }, { now: now(4000), fence: { owner: 'next', then: 'release' } });

    // Assess
    expect(committed.lease).toBeNull();
    expect(committed.tokenVersion).toBe('pending-3');
    expect(committed.pendingVersion).toBeUndefined();
    expect('pendingVersion' in (await rawItem(id))).toBe(false);
  });

  it('breakLease removes the lease AND the pending version, so the broken holder\'s set is never adopted', async () => {
    // Prepare
    const { id } = await created('break');
    await store.acquireLease(id, 'refresher', { now: T0, durationMs: LEASE_MS });
    await store.updateStatus(id, { status: readyStatus(), pendingVersion: 'refresher-version' }, { now: now(), fence: { owner: 'refresher', then: 'keep' } });

    // Act: a new authorization writes its set and breaks the lease
    const authorized = await store.updateStatus(id, { status: readyStatus(), tokenVersion: 'callback-version', stagedTokens: null }, { now: now(2000), fence: 'break' });

    // Assess
    expect(authorized.lease).toBeNull();
    expect(authorized.tokenVersion).toBe('callback-version');
    expect(authorized.pendingVersion).toBeUndefined();
    const item = await rawItem(id);
    expect('pendingVersion' in item).toBe(false);
    expect('leaseOwner' in item).toBe(false);
    // The broken holder can no longer write anything, its pending version included.
    await expect(
      store.updateStatus(id, { status: readyStatus(), tokenVersion: 'refresher-version', pendingVersion: null }, { now: now(3000), fence: { owner: 'refresher', then: 'release' } }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    expect((await read(id)).tokenVersion).toBe('callback-version');
  });

  it('breakLease with a pendingVersion in the update sets it (no overlapping SET and REMOVE)', async () => {
    // Prepare
    const { id } = await created('break-set');
    await store.acquireLease(id, 'refresher', { now: T0, durationMs: LEASE_MS });

    // Act
    const written = await store.updateStatus(id, { status: readyStatus(), pendingVersion: 'named' }, { now: now(), fence: 'break' });
    const clearedToo = await store.updateStatus(id, { status: readyStatus(), pendingVersion: null }, { now: now(2000), fence: 'break' });

    // Assess
    expect(written.lease).toBeNull();
    expect(written.pendingVersion).toBe('named');
    expect(clearedToo.pendingVersion).toBeUndefined();
  });

  it('breakLease on a profile without a pending version writes fine and adds none', async () => {
    // Prepare
    const { id } = await created('break-none');

    // Act
    const written = await store.updateStatus(id, { status: readyStatus(), tokenVersion: 'v-2' }, { now: now(), fence: 'break' });

    // Assess
    expect(written.pendingVersion).toBeUndefined();
    expect(written.tokenVersion).toBe('v-2');
  });
});

describe('records and pendingVersion', () => {
  it('round-trips through putProfile, getProfile, listProfiles and listDueProfiles', async () => {
    // Prepare
    const withPending: ProfileRecord = record(freshId('round-trip'), {
      pendingVersion: 'a1b2c3d4-0000-4000-8000-000000000001',
      lease: { owner: 'holder', expiresAt: T0 + LEASE_MS },
      status: readyStatus(iso(T0 - 60_000)),
    });

    // Act
    await store.putProfile(withPending, null, grantOf(withPending));

    // Assess
    expect(await store.getProfile(withPending.id)).toStrictEqual(withPending);
    expect((await rawItem(withPending.id))['pendingVersion']).toBe(withPending.pendingVersion);
    expect((await store.listProfiles()).find((r) => r.id === withPending.id)).toStrictEqual(withPending);
    expect((await store.listDueProfiles(iso(T0))).find((r) => r.id === withPending.id)).toStrictEqual(withPending);
  });

  it('putProfile keeps the attribute only when the record carries one (replacing without it removes it)', async () => {
    // Prepare
    const first = record(freshId('replace'), { pendingVersion: 'pending-kept' });
    await store.putProfile(first, null, grantOf(first));

    // Act: replaced with the pending version kept, then without it, then with null
    const keeping: ProfileRecord = { ...first, revision: 2, pendingVersion: 'pending-kept' };
    await store.putProfile(keeping, 1, grantOf(keeping));
    const keptItem = await rawItem(first.id);
    const { pendingVersion: _dropped, ...without } = keeping;
    await store.putProfile({ ...without, revision: 3 }, 2, grantOf(without));
    const withoutItem = await rawItem(first.id);
    await store.putProfile({ ...without, revision: 4, pendingVersion: null }, 3, grantOf(without));

    // Assess
    expect(keptItem['pendingVersion']).toBe('pending-kept');
    expect('pendingVersion' in withoutItem).toBe(false);
    const last = await read(first.id);
    expect(last.pendingVersion).toBeUndefined();
    expect('pendingVersion' in (await rawItem(first.id))).toBe(false);
    expect(last.revision).toBe(4);
  });

  it('a record without one reads without the property (not null)', async () => {
    const { id } = await created('none');
    const read1 = await read(id);
    expect('pendingVersion' in read1).toBe(false);
    expect('pendingVersion' in (await rawItem(id))).toBe(false);
  });
});

describe('acquireLease and releaseLease with a pending version', () => {
  it('taking the lease records the holder\'s pending version in the same write, unless a previous holder\'s is recorded', async () => {
    // Prepare
    const { id } = await created('acquire-pending');

    // Act
    const first = await store.acquireLease(id, 'first', { now: T0, durationMs: LEASE_MS, pendingVersion: 'first-version' });
    // The first holder vanishes without releasing; the next takes over after expiry.
    const second = await store.acquireLease(id, 'second', { now: T0 + LEASE_MS, durationMs: LEASE_MS, pendingVersion: 'second-version' });

    // Assess
    expect(first).toMatchObject({ pendingVersion: 'first-version', lease: { owner: 'first' } });
    expect(second).toMatchObject({ pendingVersion: 'first-version', lease: { owner: 'second' } });
    expect((await rawItem(id))['pendingVersion']).toBe('first-version');
  });

  it('a refused acquisition records nothing', async () => {
    const { id } = await created('acquire-refused');
    await store.acquireLease(id, 'holder', { now: T0, durationMs: LEASE_MS });
    expect(await store.acquireLease(id, 'other', { now: T0 + 1, durationMs: LEASE_MS, pendingVersion: 'other-version' })).toBeUndefined();
    expect('pendingVersion' in (await rawItem(id))).toBe(false);
  });

  it('releasing with the holder\'s own pending version removes both; with another\'s, the lease only', async () => {
    // Prepare
    const { id: own } = await created('release-own');
    await store.acquireLease(own, 'holder', { now: T0, durationMs: LEASE_MS, pendingVersion: 'mine' });
    const { id: foreign } = await created('release-foreign');
    await store.acquireLease(foreign, 'gone', { now: T0, durationMs: LEASE_MS, pendingVersion: 'theirs' });
    await store.acquireLease(foreign, 'holder', { now: T0 + LEASE_MS, durationMs: LEASE_MS, pendingVersion: 'mine' });

    // Act
    await store.releaseLease(own, 'holder', { pendingVersion: 'mine' });
    await store.releaseLease(foreign, 'holder', { pendingVersion: 'mine' });

    // Assess
    expect(await read(own)).toMatchObject({ lease: null });
    expect((await read(own)).pendingVersion).toBeUndefined();
    expect(await read(foreign)).toMatchObject({ lease: null, pendingVersion: 'theirs' });
  });
});
