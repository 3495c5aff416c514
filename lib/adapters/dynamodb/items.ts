/**
 * The profile store's items: their keys, and the mapping between a `ProfileRecord` (or a pending
 * authorization) and the item that holds it. Storage only: every rule about what may be written is the
 * use cases', every condition the store's.
 */
import { createHash } from 'node:crypto';
import type { PendingAuthorization } from '../../ports.js';
import type { GrantIdentity, ProfileConfig, ProfileRecord, ProfileStatus } from '../../profile.js';
import { DUE_PARTITION, TABLE_SCHEMA } from './table.js';

export const PROFILE_PREFIX = 'PROFILE#';
export const PROFILE_SK = 'PROFILE';
export const PROFILES_PK = 'PROFILES';
export const STATE_PREFIX = 'STATE#';
export const STATE_SK = 'STATE';
export const PENDING_PREFIX = 'PENDING#';
/** The TTL janitor removes a pending authorization this long after it expired; reads check `expiresAt`. */
export const PENDING_TTL_GRACE_SECONDS = 24 * 60 * 60;
/** The key of a pending authorization: a SHA-256 of `state`, so that the raw value is never stored. */
export function stateKey(state: string): string {
  return STATE_PREFIX + createHash('sha256').update(state, 'utf8').digest('hex');
}

export function profileKey(id: string): { pk: string; sk: string } {
  return { pk: PROFILE_PREFIX + id, sk: PROFILE_SK };
}

export type Item = Record<string, unknown>;

/** Code-unit order, the same order DynamoDB gives string sort keys for ASCII ids. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The item of a profile, with the grant identity of its configuration beside it (see `ProfileStore.putProfile`). */
export function toItem(record: ProfileRecord, grant: GrantIdentity): Item {
  const item: Item = {
    ...profileKey(record.id),
    [TABLE_SCHEMA.indexes.gsi1.partitionKey]: PROFILES_PK,
    [TABLE_SCHEMA.indexes.gsi1.sortKey]: record.id,
    id: record.id,
    config: record.config,
    hasClientSecret: record.hasClientSecret,
    status: record.status,
    tokenVersion: record.tokenVersion,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    revision: record.revision,
    grantKey: grant,
  };
  if (record.deleting) item['deleting'] = true;
  if (record.status.nextRefreshAt !== null) {
    item[TABLE_SCHEMA.indexes.due.partitionKey] = DUE_PARTITION;
    item[TABLE_SCHEMA.indexes.due.sortKey] = record.status.nextRefreshAt;
  }
  if (record.lease) {
    item['leaseOwner'] = record.lease.owner;
    item['leaseExpiresAt'] = record.lease.expiresAt;
  }
  if (record.stagedTokens) item['stagedTokens'] = record.stagedTokens;
  if (record.pendingVersion) item['pendingVersion'] = record.pendingVersion;
  if (record.lastGrantAt) item['lastGrantAt'] = record.lastGrantAt;
  return item;
}

/** Maps a profile item back; key and index attributes stay behind. */
export function toRecord(item: Item): ProfileRecord {
  return {
    id: item['id'] as string,
    config: item['config'] as ProfileConfig,
    hasClientSecret: item['hasClientSecret'] as boolean,
    status: item['status'] as ProfileStatus,
    tokenVersion: (item['tokenVersion'] as string | null | undefined) ?? null,
    createdAt: item['createdAt'] as string,
    updatedAt: item['updatedAt'] as string,
    revision: item['revision'] as number,
    lease:
      typeof item['leaseOwner'] === 'string'
        ? { owner: item['leaseOwner'], expiresAt: item['leaseExpiresAt'] as number }
        : null,
    stagedTokens: (item['stagedTokens'] as string | undefined) ?? null,
    ...(typeof item['pendingVersion'] === 'string' ? { pendingVersion: item['pendingVersion'] } : {}),
    ...(typeof item['lastGrantAt'] === 'string' ? { lastGrantAt: item['lastGrantAt'] } : {}),
    ...(item['deleting'] === true ? { deleting: true } : {}),
  };
}

/** The item of a pending authorization: keyed by the hash of its `state`, listed per profile on `gsi1`. */
export function pendingItem(pending: PendingAuthorization): Item {
  const expiresAtMs = Date.parse(pending.expiresAt);
  if (Number.isNaN(expiresAtMs)) throw new Error('the pending authorization has an invalid expiresAt');
  return {
    [TABLE_SCHEMA.partitionKey]: stateKey(pending.state),
    [TABLE_SCHEMA.sortKey]: STATE_SK,
    [TABLE_SCHEMA.indexes.gsi1.partitionKey]: PENDING_PREFIX + pending.profileId,
    [TABLE_SCHEMA.indexes.gsi1.sortKey]: pending.expiresAt,
    profileId: pending.profileId,
    codeVerifier: pending.codeVerifier,
    redirectUri: pending.redirectUri,
    createdAt: pending.createdAt,
    expiresAt: pending.expiresAt,
    ...(pending.grant !== undefined ? { grant: pending.grant } : {}),
    [TABLE_SCHEMA.ttlAttribute]: Math.floor(expiresAtMs / 1000) + PENDING_TTL_GRACE_SECONDS,
  };
}

/** Maps a pending authorization's item back (the `state` is not stored: the caller read it by its hash). */
export function toPending(state: string, item: Item): PendingAuthorization {
  return {
    state,
    profileId: item['profileId'] as string,
    codeVerifier: (item['codeVerifier'] as string | null | undefined) ?? null,
    redirectUri: item['redirectUri'] as string,
    createdAt: item['createdAt'] as string,
    expiresAt: item['expiresAt'] as string,
    ...(typeof item['grant'] === 'string' ? { grant: item['grant'] } : {}),
  };
}
