/**
 * The environment of the DynamoDB adapter's integration tests: one dynalite per test file with the broker's
 * table and a `DynamoDbProfileStore` on it (`useProfileTable`), fresh profile ids, and profile records in a
 * known state, their times relative to `T0`.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { DynamoDbProfileStore, createTable } from '../../../lib/adapters/dynamodb-profile-store.js';
import { grantIdentity, type GrantIdentity, type ProfileConfig, type ProfileRecord, type ProfileStatus } from '../../../lib/profile.js';
import { startDynalite, type RunningDynalite } from '../../support/dynalite.js';
import { profileConfig } from '../../support/profile-config.js';

export const T0 = Date.parse('2026-11-28T09:00:00.000Z');
export const LEASE_MS = 60_000;

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The test file's dynalite and the store on its table, set by the hooks `useProfileTable` registers. Live
 * bindings: read them in hooks and tests, not while the file loads.
 */
export let db: RunningDynalite;
export let store: DynamoDbProfileStore;

/** Registers the hooks of a test file: dynalite with the table `tableName`, and `store` on it. */
export function useProfileTable(tableName: string): void {
  beforeAll(async () => {
    db = await startDynalite();
    await createTable(db.client, tableName);
    store = new DynamoDbProfileStore({ tableName, client: db.doc });
  });
  afterAll(async () => {
    await db?.close();
  });
}

/** What `putProfile` stores beside a record, as the broker computes it. */
export const grantOf = (profile: ProfileRecord): GrantIdentity => grantIdentity(profile.config);

let counter = 0;
/** A fresh id per test, so that tests sharing the table do not see each other's items. */
export function freshId(label: string): string {
  counter += 1;
  return `${label}-${counter}`;
}

export function readyStatus(nextRefreshAt: string | null = iso(T0 + 50 * 60_000)): ProfileStatus {
  return {
    state: 'ready',
    accessTokenExpiresAt: iso(T0 + 60 * 60_000),
    hasRefreshToken: true,
    lastRefreshAt: iso(T0),
    lastAuthorizedAt: iso(T0 - 86_400_000),
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAt,
  };
}

/** `profileConfig` with client `client-1`. */
export function config(overrides: Partial<ProfileConfig> = {}): ProfileConfig {
  return profileConfig({ clientId: 'client-1', ...overrides });
}

/** A ready, authorization-code profile holding token set `v-1`. */
export function record(id: string, overrides: Partial<ProfileRecord> = {}): ProfileRecord {
  return {
    id,
    config: config(),
    hasClientSecret: true,
    status: readyStatus(),
    tokenVersion: 'v-1',
    createdAt: iso(T0 - 86_400_000),
    updatedAt: iso(T0),
    revision: 1,
    lease: null,
    stagedTokens: null,
    ...overrides,
  };
}

/** `record` with a fresh id, stored. */
export async function created(label: string, overrides: Partial<ProfileRecord> = {}): Promise<ProfileRecord> {
  const r = record(freshId(label), overrides);
  await store.putProfile(r, null, grantOf(r));
  return r;
}

/** The stored profile, which must exist. */
export async function read(id: string): Promise<ProfileRecord> {
  const r = await store.getProfile(id);
  expect(r).toBeDefined();
  return r!;
}
