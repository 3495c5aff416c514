import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DUE_PARTITION, DynamoDbProfileStore, TABLE_SCHEMA } from '../../../lib/adapters/dynamodb-profile-store.js';
import { ConditionFailedError, type PendingAuthorization } from '../../../lib/ports.js';
import { initialStatus, type ProfileRecord, type ProfileStatus } from '../../../lib/profile.js';
import { config, db, freshId, grantOf, store, useProfileTable } from './fixture.js';

const TABLE = 'broker-test';

useProfileTable(TABLE);

/** Same table, one-item query pages: proves the adapter follows `LastEvaluatedKey`. */
let pagedStore: DynamoDbProfileStore;

beforeAll(() => {
  pagedStore = new DynamoDbProfileStore({ tableName: TABLE, client: db.doc, pageSize: 1 });
});

function fullRecord(id: string, overrides: Partial<ProfileRecord> = {}): ProfileRecord {
  return {
    id,
    config: config({ authorizationParams: { audience: 'api://mes', prompt: 'consent' } }),
    hasClientSecret: true,
    status: {
      state: 'refresh_failing',
      accessTokenExpiresAt: '2026-11-28T10:00:00.000Z',
      hasRefreshToken: true,
      lastRefreshAt: '2026-11-28T09:00:00.000Z',
      lastAuthorizedAt: null,
      lastError: { code: 'server_error', message: 'The token endpoint answered 503.', at: '2026-11-28T09:00:00.000Z' },
      consecutiveFailures: 2,
      nextRefreshAt: '2026-11-28T09:05:00.000Z',
    },
    tokenVersion: 'v-1',
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-28T09:00:00.000Z',
    revision: 1,
    lease: null,
    stagedTokens: null,
    ...overrides,
  };
}

function pending(profileId: string, state: string, overrides: Partial<PendingAuthorization> = {}): PendingAuthorization {
  return {
    state,
    profileId,
    codeVerifier: `verifier-${profileId}-0123456789abcdefghijklmnopqrstuvwxyz`,
    redirectUri: 'https://broker.example/callback',
    createdAt: '2026-11-28T10:00:00.000Z',
    expiresAt: '2026-11-28T10:10:00.000Z',
    ...overrides,
  };
}

async function rawProfileItem(id: string): Promise<Record<string, unknown> | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `PROFILE#${id}`, sk: 'PROFILE' }, ConsistentRead: true }));
  return out.Item;
}

async function dueIndexIds(): Promise<string[]> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: TABLE,
      IndexName: 'due',
      KeyConditionExpression: 'duePk = :due',
      ExpressionAttributeValues: { ':due': 'DUE' },
    }),
  );
  return (out.Items ?? []).map((item) => item['id'] as string);
}

describe('createTable and TABLE_SCHEMA', () => {
  it('creates the table with the schema the CDK stack uses', async () => {
    // Act
    const { Table } = await db.client.send(new DescribeTableCommand({ TableName: TABLE }));

    // Assess
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const indexes = Object.fromEntries((Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i]));
    expect(indexes['gsi1']?.KeySchema).toEqual([
      { AttributeName: 'gsi1pk', KeyType: 'HASH' },
      { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
    ]);
    expect(indexes['due']?.KeySchema).toEqual([
      { AttributeName: 'duePk', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
    expect(indexes['gsi1']?.Projection?.ProjectionType).toBe('ALL');
    expect(indexes['due']?.Projection?.ProjectionType).toBe('ALL');
    expect(TABLE_SCHEMA.ttlAttribute).toBe('ttl');
  });
});

describe('DynamoDbProfileStore profiles', () => {
  it('round-trips a full record exactly, nulls and maps included', async () => {
    // Prepare
    const record = fullRecord(freshId('roundtrip'));

    // Act
    await store.putProfile(record, null, grantOf(record));
    const read = await store.getProfile(record.id);

    // Assess
    expect(read).toStrictEqual(record);
  });

  it('round-trips the initial status and empty maps', async () => {
    // Prepare
    const base = fullRecord(freshId('initial'));
    const record = fullRecord(base.id, {
      config: { ...base.config, scope: null, authorizationParams: {}, tokenParams: {}, issuer: 'https://as.example' },
      status: initialStatus(),
      tokenVersion: null,
      hasClientSecret: false,
    });

    // Act
    await store.putProfile(record, null, grantOf(record));

    // Assess
    expect(await store.getProfile(record.id)).toStrictEqual(record);
  });

  it('answers undefined for an unknown profile', async () => {
    // Act
    const read = await store.getProfile('no-such-profile');

    // Assess
    expect(read).toBeUndefined();
  });

  it('refuses to create a profile that exists and leaves it unchanged', async () => {
    // Prepare
    const original = fullRecord(freshId('create-conflict'));
    await store.putProfile(original, null, grantOf(original));
    const other = fullRecord(original.id, { hasClientSecret: false, revision: 1 });

    // Act
    const attempt = store.putProfile(other, null, grantOf(other));

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getProfile(original.id)).toStrictEqual(original);
  });

  it('replaces a profile at the expected revision and refuses a stale revision', async () => {
    // Prepare
    const original = fullRecord(freshId('replace'));
    await store.putProfile(original, null, grantOf(original));
    const replaced = fullRecord(original.id, { config: { ...original.config, scope: 'api.read' }, revision: 2 });
    await store.putProfile(replaced, 1, grantOf(replaced));
    const stale = fullRecord(original.id, { config: { ...original.config, scope: 'stale' }, revision: 2 });

    // Act
    const attempt = store.putProfile(stale, 1, grantOf(stale));

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getProfile(original.id)).toStrictEqual(replaced);
  });

  it('refuses a replace of a profile that does not exist', async () => {
    // Prepare
    const record = fullRecord(freshId('replace-missing'), { revision: 2 });

    // Act
    const attempt = store.putProfile(record, 1, grantOf(record));

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getProfile(record.id)).toBeUndefined();
  });

  it('lists every profile sorted by id, across query pages', async () => {
    // Prepare
    const ids = ['list-c', 'list-a', 'list-b', 'list-e', 'list-d'];
    for (const record of ids.map((id) => fullRecord(id))) await store.putProfile(record, null, grantOf(record));

    // Act
    const listed = await pagedStore.listProfiles();
    const listedDefault = await store.listProfiles();

    // Assess
    const listedIds = listed.map((p) => p.id);
    expect(listedIds.filter((id) => id.startsWith('list-'))).toEqual(['list-a', 'list-b', 'list-c', 'list-d', 'list-e']);
    expect(listedIds).toEqual([...listedIds].sort());
    expect(listedDefault).toStrictEqual(listed);
    expect(listed.find((p) => p.id === 'list-a')).toStrictEqual(fullRecord('list-a'));
  });

  it('does not list pending authorizations as profiles', async () => {
    // Prepare
    const id = freshId('list-pending');
    const profile = fullRecord(id);
    await store.putProfile(profile, null, grantOf(profile));
    await store.putPendingAuthorization(pending(id, `state-${id}`));

    // Act
    const listed = await store.listProfiles();

    // Assess
    expect(listed.every((p) => typeof p.id === 'string' && p.config !== undefined)).toBe(true);
    expect(listed.filter((p) => p.id === id)).toHaveLength(1);
  });

  it('deletes a profile and says whether it existed', async () => {
    // Prepare
    const record = fullRecord(freshId('delete'));
    await store.putProfile(record, null, grantOf(record));

    // Act
    const first = await store.deleteProfile(record.id);
    const second = await store.deleteProfile(record.id);

    // Assess
    expect(first).toBe(true);
    expect(second).toBe(false);
    expect(await store.getProfile(record.id)).toBeUndefined();
  });
});

describe('DynamoDbProfileStore.updateStatus', () => {
  const ready = (nextRefreshAt: string | null): ProfileStatus => ({
    state: 'ready',
    accessTokenExpiresAt: '2026-11-28T11:00:00.000Z',
    hasRefreshToken: true,
    lastRefreshAt: '2026-11-28T10:00:00.000Z',
    lastAuthorizedAt: '2026-11-28T10:00:00.000Z',
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAt,
  });

  it('writes the status, bumps the revision, sets updatedAt and returns the record as written', async () => {
    // Prepare
    const record = fullRecord(freshId('status'));
    await store.putProfile(record, null, grantOf(record));

    // Act
    const written = await store.updateStatus(
      record.id,
      { status: ready('2026-11-28T10:55:00.000Z'), tokenVersion: 'v-2' },
      { now: '2026-11-28T10:00:01.000Z', expectedRevision: 1 },
    );

    // Assess
    const expected: ProfileRecord = {
      ...record,
      status: ready('2026-11-28T10:55:00.000Z'),
      tokenVersion: 'v-2',
      updatedAt: '2026-11-28T10:00:01.000Z',
      revision: 2,
    };
    expect(written).toStrictEqual(expected);
    expect(await store.getProfile(record.id)).toStrictEqual(expected);
  });

  it('keeps the token pointer when tokenVersion is undefined and clears it when null', async () => {
    // Prepare
    const record = fullRecord(freshId('pointer'));
    await store.putProfile(record, null, grantOf(record));

    // Act
    const kept = await store.updateStatus(record.id, { status: ready(null) }, { now: '2026-11-28T10:00:01.000Z' });
    const cleared = await store.updateStatus(
      record.id,
      { status: initialStatus(), tokenVersion: null },
      { now: '2026-11-28T10:00:02.000Z' },
    );

    // Assess
    expect(kept.tokenVersion).toBe('v-1');
    expect(kept.revision).toBe(2);
    expect(cleared.tokenVersion).toBeNull();
    expect(cleared.revision).toBe(3);
    expect(cleared.status).toStrictEqual(initialStatus());
  });

  it('puts a profile on the due index while nextRefreshAt is set and takes it off when null', async () => {
    // Prepare
    const record = fullRecord(freshId('due'), { status: { ...fullRecord('x').status, nextRefreshAt: null } });
    await store.putProfile(record, null, grantOf(record));
    const before = await dueIndexIds();

    // Act
    await store.updateStatus(record.id, { status: ready('2026-11-28T10:55:00.000Z') }, { now: '2026-11-28T10:00:01.000Z' });
    const whileDue = await dueIndexIds();
    const itemWhileDue = await rawProfileItem(record.id);
    const dueByAdapter = await store.listDueProfiles('2026-11-28T10:55:00.000Z');
    const notYetDue = await store.listDueProfiles('2026-11-28T10:54:59.999Z');
    await store.updateStatus(record.id, { status: ready(null) }, { now: '2026-11-28T10:00:02.000Z' });
    const after = await dueIndexIds();
    const itemAfter = await rawProfileItem(record.id);

    // Assess
    expect(before).not.toContain(record.id);
    expect(whileDue).toContain(record.id);
    expect(itemWhileDue?.['duePk']).toBe(DUE_PARTITION);
    expect(itemWhileDue?.['dueAt']).toBe('2026-11-28T10:55:00.000Z');
    expect(dueByAdapter.map((p) => p.id)).toContain(record.id);
    expect(notYetDue.map((p) => p.id)).not.toContain(record.id);
    expect(after).not.toContain(record.id);
    expect(itemAfter).not.toHaveProperty('duePk');
    expect(itemAfter).not.toHaveProperty('dueAt');
  });

  it('puts a created profile with nextRefreshAt on the due index', async () => {
    // Prepare
    const record = fullRecord(freshId('due-put'));

    // Act
    await store.putProfile(record, null, grantOf(record));

    // Assess
    expect(await dueIndexIds()).toContain(record.id);
  });

  it('refuses a stale revision and changes nothing', async () => {
    // Prepare
    const record = fullRecord(freshId('status-stale'));
    await store.putProfile(record, null, grantOf(record));
    await store.updateStatus(record.id, { status: ready(null) }, { now: '2026-11-28T10:00:01.000Z', expectedRevision: 1 });
    const current = await store.getProfile(record.id);

    // Act
    const attempt = store.updateStatus(
      record.id,
      { status: initialStatus(), tokenVersion: null },
      { now: '2026-11-28T10:00:02.000Z', expectedRevision: 1 },
    );

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getProfile(record.id)).toStrictEqual(current);
  });

  it('refuses to update a profile that does not exist and creates nothing', async () => {
    // Prepare
    const id = freshId('status-missing');

    // Act
    const attempt = store.updateStatus(id, { status: ready(null) }, { now: '2026-11-28T10:00:01.000Z' });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await rawProfileItem(id)).toBeUndefined();
  });
});

describe('DynamoDbProfileStore pending authorizations', () => {
  it('stores and reads back a pending authorization, even an expired one', async () => {
    // Prepare
    const profileId = freshId('pending');
    const state = `state-${profileId}-Zm9vYmFyYmF6cXV4`;
    const expired = pending(profileId, state, { expiresAt: '2000-01-01T00:10:00.000Z', createdAt: '2000-01-01T00:00:00.000Z' });

    // Act
    await store.putPendingAuthorization(expired);
    const read = await store.getPendingAuthorization(state);

    // Assess
    expect(read).toStrictEqual(expired);
  });

  it('round-trips a null code verifier', async () => {
    // Prepare
    const profileId = freshId('pending-nopkce');
    const item = pending(profileId, `state-${profileId}`, { codeVerifier: null });

    // Act
    await store.putPendingAuthorization(item);

    // Assess
    expect(await store.getPendingAuthorization(item.state)).toStrictEqual(item);
  });

  it('answers undefined for an unknown state', async () => {
    // Act
    const read = await store.getPendingAuthorization('never-issued');

    // Assess
    expect(read).toBeUndefined();
  });

  it('never stores the raw state, keys by its hash and sets the TTL a day after expiry', async () => {
    // Prepare
    const profileId = freshId('pending-hash');
    const state = 'UniqueRawStateValue-7f3c2a91e4b8d6';
    await store.putPendingAuthorization(pending(profileId, state));

    // Act
    const scan = await db.doc.send(new ScanCommand({ TableName: TABLE, ConsistentRead: true }));

    // Assess
    const items = scan.Items ?? [];
    expect(items.length).toBeGreaterThan(0);
    expect(JSON.stringify(items).includes(state), 'the raw state is stored somewhere').toBe(false);
    const item = items.find((i) => i['profileId'] === profileId);
    expect(item?.['pk']).toBe(`STATE#${createHash('sha256').update(state).digest('hex')}`);
    expect(item?.['sk']).toBe('STATE');
    expect(item?.['gsi1pk']).toBe(`PENDING#${profileId}`);
    expect(item?.['gsi1sk']).toBe('2026-11-28T10:10:00.000Z');
    expect(item?.['ttl']).toBe(Date.parse('2026-11-28T10:10:00.000Z') / 1000 + 86_400);
  });

  it('refuses a second pending authorization with the same state', async () => {
    // Prepare
    const profileId = freshId('pending-dup');
    const first = pending(profileId, `state-${profileId}`);
    await store.putPendingAuthorization(first);

    // Act
    const attempt = store.putPendingAuthorization({ ...first, redirectUri: 'https://other.example/callback' });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ConditionFailedError);
    expect(await store.getPendingAuthorization(first.state)).toStrictEqual(first);
  });

  it('lets exactly one of two concurrent consumers have a state, and hands it the pending authorization', async () => {
    // Prepare
    const profileId = freshId('consume');
    const state = `state-${profileId}`;
    const stored = pending(profileId, state);
    await store.putPendingAuthorization(stored);

    // Act
    const results = await Promise.all([store.consumePendingAuthorization(state), store.consumePendingAuthorization(state)]);
    const later = await store.consumePendingAuthorization(state);

    // Assess
    expect(results.filter((r) => r !== undefined)).toStrictEqual([stored]);
    expect(later).toBeUndefined();
    expect(await store.consumePendingAuthorization('never-issued')).toBeUndefined();
    expect(await store.getPendingAuthorization(state)).toBeUndefined();
  });

  it('deletes only the pending authorizations of the given profile', async () => {
    // Prepare
    const target = freshId('pending-del');
    const other = freshId('pending-keep');
    for (let i = 0; i < 3; i += 1) {
      await store.putPendingAuthorization(pending(target, `state-${target}-${i}`, { expiresAt: `2026-11-28T10:1${i}:00.000Z` }));
    }
    await store.putPendingAuthorization(pending(other, `state-${other}`));

    // Act
    const deleted = await pagedStore.deletePendingAuthorizations(target);
    const again = await store.deletePendingAuthorizations(target);

    // Assess
    expect(deleted).toBe(3);
    expect(again).toBe(0);
    for (let i = 0; i < 3; i += 1) {
      expect(await store.getPendingAuthorization(`state-${target}-${i}`)).toBeUndefined();
    }
    expect(await store.getPendingAuthorization(`state-${other}`)).toStrictEqual(pending(other, `state-${other}`));
  });

  it('does not delete the profile item itself', async () => {
    // Prepare
    const id = freshId('pending-profile');
    const profile = fullRecord(id);
    await store.putProfile(profile, null, grantOf(profile));
    await store.putPendingAuthorization(pending(id, `state-${id}`));

    // Act
    const deleted = await store.deletePendingAuthorizations(id);

    // Assess
    expect(deleted).toBe(1);
    expect(await store.getProfile(id)).toStrictEqual(fullRecord(id));
  });
});
