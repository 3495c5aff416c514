/**
 * The first step of a deletion and grant-bound commits in the DynamoDB profile store, on dynalite (real
 * conditional-write semantics): `markDeleting` breaks the lease and fences off every later lease and status
 * write; `updateStatus({ sameGrant })` commits only while the profile still uses the same grant type,
 * client and token endpoint.
 */
import { describe, expect, it } from 'vitest';
import { ConditionFailedError, type StatusUpdateOptions } from '../../../lib/ports.js';
import type { ProfileRecord } from '../../../lib/profile.js';
import { scanTable } from '../../support/store-snapshot.js';
import { LEASE_MS, T0, config, created, db, freshId, grantOf, iso, read, readyStatus, record, store, useProfileTable } from './fixture.js';

const TABLE = 'deleting-test';
useProfileTable(TABLE);

describe('markDeleting', () => {
  it('on a leased profile: sets deleting, removes the lease and bumps the revision', async () => {
    const { id } = await created('leased');
    const leased = await store.acquireLease(id, 'refresher', { now: T0, durationMs: LEASE_MS });
    expect(leased?.lease?.owner).toBe('refresher');

    expect(await store.markDeleting(id)).toBe(true);

    const marked = await read(id);
    expect(marked.deleting).toBe(true);
    expect(marked.lease).toBeNull();
    expect(marked.revision).toBe(leased!.revision + 1);
    // Nothing else changed: the status, the token pointer and the config stay until the profile is deleted.
    expect(marked.status).toEqual(leased!.status);
    expect(marked.tokenVersion).toBe(leased!.tokenVersion);
    expect(marked.config).toEqual(leased!.config);
  });

  it('afterwards no lease can be taken, not even once the old one would have expired', async () => {
    const { id } = await created('no-lease');
    await store.acquireLease(id, 'refresher', { now: T0, durationMs: LEASE_MS });
    await store.markDeleting(id);
    const before = await read(id);

    for (const [owner, now] of [['refresher', T0 + 1], ['other', T0 + 1], ['other', T0 + LEASE_MS + 1], ['late', T0 + 365 * 86_400_000]] as const) {
      expect(await store.acquireLease(id, owner, { now, durationMs: LEASE_MS }), `${owner} at +${now - T0} ms`).toBeUndefined();
    }
    expect(await read(id)).toEqual(before);
  });

  it('afterwards updateStatus fails with ConditionFailedError whatever its options, and changes nothing', async () => {
    const r = await created('no-commit');
    await store.acquireLease(r.id, 'refresher', { now: T0, durationMs: LEASE_MS });
    await store.markDeleting(r.id);
    const before = await read(r.id);
    const now = iso(T0 + 1000);

    const variants: Array<[string, StatusUpdateOptions]> = [
      ['no condition', { now }],
      ['the broken lease holder', { now, fence: { owner: 'refresher', then: 'release' } }],
      ['the broken lease holder, keeping the lease', { now, fence: { owner: 'refresher', then: 'keep' } }],
      ['fence break (a new authorization)', { now, fence: 'break' }],
      ['sameGrant with the same grant', { now, fence: 'break', sameGrant: grantOf(r) }],
      ['the current revision', { now, expectedRevision: before.revision }],
    ];
    for (const [label, options] of variants) {
      await expect(
        store.updateStatus(r.id, { status: readyStatus(iso(T0 + 100 * 60_000)), tokenVersion: 'v-new', stagedTokens: null }, options),
        label,
      ).rejects.toBeInstanceOf(ConditionFailedError);
    }
    expect(await read(r.id)).toEqual(before);
  });

  it('of a missing profile answers false and creates nothing', async () => {
    const id = freshId('missing');
    const itemsBefore = await scanTable(db.doc, TABLE);
    expect(await store.markDeleting(id)).toBe(false);
    expect(await store.getProfile(id)).toBeUndefined();
    expect(await scanTable(db.doc, TABLE)).toEqual(itemsBefore);
  });

  it('again on a profile already being deleted answers true (a repeated DELETE can finish)', async () => {
    const { id } = await created('twice');
    expect(await store.markDeleting(id)).toBe(true);
    expect(await store.markDeleting(id)).toBe(true);
    expect((await read(id)).deleting).toBe(true);
    expect(await store.deleteProfile(id)).toBe(true);
    expect(await store.markDeleting(id)).toBe(false);
  });

  it('a profile that is not being deleted reads without the flag', async () => {
    const { id } = await created('plain');
    expect((await read(id)).deleting).toBeFalsy();
  });
});

describe('updateStatus with sameGrant', () => {
  const update = (version: string) => ({ status: readyStatus(iso(T0 + 100 * 60_000)), tokenVersion: version, stagedTokens: null });

  it('commits while the profile uses the same clientId and tokenUrl', async () => {
    const r = await created('same-grant');
    await store.acquireLease(r.id, 'refresher', { now: T0, durationMs: LEASE_MS });
    const written = await store.updateStatus(r.id, update('v-callback'), { now: iso(T0 + 1000), fence: 'break', sameGrant: grantOf(r) });
    expect(written.tokenVersion).toBe('v-callback');
    expect(written.lease).toBeNull();
  });

  it('commits after a PUT that changed only what the tokens do not depend on (scope)', async () => {
    const r = await created('scope-change');
    const edited: ProfileRecord = { ...r, config: config({ scope: 'openid' }), revision: 2 };
    await store.putProfile(edited, 1, grantOf(edited));
    const written = await store.updateStatus(r.id, update('v-scope'), { now: iso(T0 + 1000), fence: 'break', sameGrant: grantOf(r) });
    expect(written.tokenVersion).toBe('v-scope');
  });

  it.each([
    ['clientId', { clientId: 'client-2' }],
    ['tokenUrl', { tokenUrl: 'https://other-as.example/token' }],
    ['grant type', { grantType: 'client_credentials' as const }],
  ])('fails with ConditionFailedError after a putProfile changed the %s, and changes nothing', async (_label, change) => {
    const r = await created('grant-change');
    const replaced: ProfileRecord = {
      ...r,
      config: config(change),
      status: { ...readyStatus(null), state: 'authorization_required', hasRefreshToken: false },
      tokenVersion: null,
      revision: 2,
    };
    await store.putProfile(replaced, 1, grantOf(replaced));
    const before = await read(r.id);

    await expect(
      store.updateStatus(r.id, update('v-stale'), { now: iso(T0 + 1000), fence: 'break', sameGrant: grantOf(r) }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await read(r.id)).toEqual(before);
    // The same write for the new grant goes through.
    const written = await store.updateStatus(r.id, update('v-new-grant'), { now: iso(T0 + 2000), fence: 'break', sameGrant: grantOf(replaced) });
    expect(written.tokenVersion).toBe('v-new-grant');
  });

  it('fails for a profile that does not exist', async () => {
    const missing = record(freshId('gone'));
    await expect(
      store.updateStatus(missing.id, update('v-x'), { now: iso(T0), fence: 'break', sameGrant: grantOf(missing) }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getProfile(missing.id)).toBeUndefined();
  });
});
