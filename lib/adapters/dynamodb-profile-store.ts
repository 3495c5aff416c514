/**
 * The DynamoDB `ProfileStore` (DESIGN.md "Ports and adapters"): used in the cloud against the stack's table
 * and in local mode against an embedded dynalite.
 */
import { createHash } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  waitUntilTableExists,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type PutCommandInput,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  ConditionFailedError,
  type PendingAuthorization,
  type ProfileStore,
  type StatusUpdate,
  type StatusUpdateOptions,
} from '../ports.js';
import { grantIdentity, type ProfileConfig, type ProfileRecord, type ProfileStatus } from '../profile.js';

/**
 * The table's fixed schema. The CDK stack creates exactly this and the tests import it; every key
 * attribute is a string (`S`), the TTL attribute is a number of epoch seconds.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
  indexes: {
    /** Lists by kind: all profiles (`PROFILES`), or the pending authorizations of one profile (`PENDING#<id>`). */
    gsi1: { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /** Sparse: only profiles with a `status.nextRefreshAt`, for the scheduled refresh job. */
    due: { indexName: 'due', partitionKey: 'duePk', sortKey: 'dueAt' },
  },
  /** Every index projects all attributes. */
  projection: 'ALL',
} as const;

/** The only partition of the `due` index. */
export const DUE_PARTITION = 'DUE';

const PROFILE_PREFIX = 'PROFILE#';
const PROFILE_SK = 'PROFILE';
const PROFILES_PK = 'PROFILES';
const STATE_PREFIX = 'STATE#';
const STATE_SK = 'STATE';
const PENDING_PREFIX = 'PENDING#';
/** The TTL janitor removes a pending authorization this long after it expired; reads check `expiresAt`. */
const PENDING_TTL_GRACE_SECONDS = 24 * 60 * 60;
/** How many deletes `deletePendingAuthorizations` runs at once. */
const DELETE_CONCURRENCY = 10;

/** A document client that drops `undefined` attributes instead of refusing them. */
export function createDocumentClient(options: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(options), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * Creates the table with both GSIs (PAY_PER_REQUEST) and waits until it is ACTIVE. For tests and local mode;
 * the cloud table comes from the CDK stack. TTL is not enabled here (dynalite does not implement
 * `UpdateTimeToLive`, and nothing depends on the janitor: reads check expiry themselves).
 */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, indexes, projection } = TABLE_SCHEMA;
  const keyNames = [partitionKey, sortKey, ...Object.values(indexes).flatMap((i) => [i.partitionKey, i.sortKey])];
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keyNames.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: Object.values(indexes).map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: projection },
      })),
    }),
  );
  await waitUntilTableExists({ client, minDelay: 1, maxDelay: 2, maxWaitTime: 120 }, { TableName: tableName });
}

/** The key of a pending authorization: a SHA-256 of `state`, so that the raw value is never stored. */
function stateKey(state: string): string {
  return STATE_PREFIX + createHash('sha256').update(state, 'utf8').digest('hex');
}

function profileKey(id: string): { pk: string; sk: string } {
  return { pk: PROFILE_PREFIX + id, sk: PROFILE_SK };
}

function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

type Item = Record<string, unknown>;

/**
 * `ProfileStore` on one DynamoDB table (single-table layout, so that one table, one IAM grant and one
 * backup cover the broker; see `TABLE_SCHEMA`):
 *
 * | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | `duePk` / `dueAt` | `ttl` |
 * |---|---|---|---|---|---|
 * | profile | `PROFILE#<id>` | `PROFILE` | `PROFILES` / `<id>` | `DUE` / `status.nextRefreshAt`, only while it is set | — |
 * | pending authorization | `STATE#<sha256 hex of state>` | `STATE` | `PENDING#<profileId>` / `<expiresAt>` | — | expiry + 1 day |
 *
 * - A profile item holds `id`, `config` and `status` as maps (nulls stored as DynamoDB `NULL`, so the round
 *   trip is exact), `hasClientSecret`, `tokenVersion`, `createdAt`, `updatedAt` and a numeric `revision`
 *   that conditional writes compare (optimistic concurrency).
 * - `gsi1` lists all profiles in one query without a table scan, and finds a profile's pending
 *   authorizations to delete them with the profile.
 * - `due` is sparse: only profiles with a next refresh time are in it, ordered by that time, so the
 *   scheduled job reads exactly the profiles that are due (`listDueProfiles`).
 * - A pending authorization is keyed by the hash of its `state`: the callback can find it by the value it
 *   receives, while a table read never reveals a usable `state`. `ttl` is only the janitor (DynamoDB deletes
 *   lazily, up to days later): the store returns expired items and the caller checks `expiresAt`.
 *
 * Reads of the GSIs are eventually consistent (DynamoDB offers nothing else on a GSI). Errors other than
 * failed conditions propagate unchanged; no message here ever holds a state, verifier or token.
 */
export class DynamoDbProfileStore implements ProfileStore {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly pageSize: number | undefined;

  /**
   * @param options.pageSize `Limit` of each query page (tests use a small one to exercise pagination);
   *   by default DynamoDB's 1 MB page.
   */
  constructor({ tableName, client, pageSize }: { tableName: string; client: DynamoDBDocumentClient; pageSize?: number }) {
    this.tableName = tableName;
    this.client = client;
    this.pageSize = pageSize;
  }

  async getProfile(id: string): Promise<ProfileRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: profileKey(id), ConsistentRead: true }),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  async listProfiles(): Promise<ProfileRecord[]> {
    const items = await this.queryAll({
      IndexName: TABLE_SCHEMA.indexes.gsi1.indexName,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.indexes.gsi1.partitionKey },
      ExpressionAttributeValues: { ':pk': PROFILES_PK },
    });
    return items.map(toRecord).sort((a, b) => compare(a.id, b.id));
  }

  /**
   * The profiles whose `status.nextRefreshAt` is at or before `dueAt` (ISO-8601), earliest first, from the
   * sparse `due` index. Not part of the port: for the scheduled refresh job.
   */
  async listDueProfiles(dueAt: string): Promise<ProfileRecord[]> {
    const items = await this.queryAll({
      IndexName: TABLE_SCHEMA.indexes.due.indexName,
      KeyConditionExpression: '#pk = :pk AND #sk <= :dueAt',
      ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.indexes.due.partitionKey, '#sk': TABLE_SCHEMA.indexes.due.sortKey },
      ExpressionAttributeValues: { ':pk': DUE_PARTITION, ':dueAt': dueAt },
    });
    return items.map(toRecord);
  }

  /** Stores `record` as given (the caller sets `revision`, normally `expectedRevision + 1`, or 1 on create). */
  async putProfile(record: ProfileRecord, expectedRevision: number | null): Promise<void> {
    const condition: Pick<PutCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> =
      expectedRevision === null
        ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey } }
        : {
            ConditionExpression: '#revision = :expected',
            ExpressionAttributeNames: { '#revision': 'revision' },
            ExpressionAttributeValues: { ':expected': expectedRevision },
          };
    try {
      await this.client.send(new PutCommand({ TableName: this.tableName, Item: toItem(record), ...condition }));
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConditionFailedError(
          expectedRevision === null
            ? `profile "${record.id}" already exists`
            : `profile "${record.id}" is gone or no longer at revision ${expectedRevision}`,
        );
      }
      throw error;
    }
  }

  async updateStatus(
    id: string,
    update: StatusUpdate,
    options: StatusUpdateOptions,
  ): Promise<ProfileRecord> {
    const names: Record<string, string> = {
      '#pk': TABLE_SCHEMA.partitionKey,
      '#status': 'status',
      '#updatedAt': 'updatedAt',
      '#revision': 'revision',
      '#duePk': TABLE_SCHEMA.indexes.due.partitionKey,
      '#dueAt': TABLE_SCHEMA.indexes.due.sortKey,
    };
    const values: Record<string, unknown> = { ':status': update.status, ':now': options.now, ':one': 1 };
    const set = ['#status = :status', '#updatedAt = :now', '#revision = #revision + :one'];
    const remove: string[] = [];
    if (update.tokenVersion !== undefined) {
      names['#tokenVersion'] = 'tokenVersion';
      values[':tokenVersion'] = update.tokenVersion;
      set.push('#tokenVersion = :tokenVersion');
    }
    if (update.status.nextRefreshAt !== null) {
      values[':duePk'] = DUE_PARTITION;
      values[':dueAt'] = update.status.nextRefreshAt;
      set.push('#duePk = :duePk', '#dueAt = :dueAt');
    } else {
      remove.push('#duePk', '#dueAt');
    }
    if (update.stagedTokens !== undefined) {
      names['#stagedTokens'] = 'stagedTokens';
      if (update.stagedTokens === null) remove.push('#stagedTokens');
      else {
        values[':stagedTokens'] = update.stagedTokens;
        set.push('#stagedTokens = :stagedTokens');
      }
    }
    names['#deleting'] = 'deleting';
    if (update.lastGrantAt !== undefined) {
      names['#lastGrantAt'] = 'lastGrantAt';
      values[':lastGrantAt'] = update.lastGrantAt;
      set.push('#lastGrantAt = :lastGrantAt');
    }
    if (update.pendingVersion !== undefined) {
      names['#pendingVersion'] = 'pendingVersion';
      if (update.pendingVersion === null) remove.push('#pendingVersion');
      else {
        values[':pendingVersion'] = update.pendingVersion;
        set.push('#pendingVersion = :pendingVersion');
      }
    }
    let condition = 'attribute_exists(#pk) AND attribute_not_exists(#deleting)';
    if (options.sameGrantAs !== undefined) {
      names['#grantKey'] = 'grantKey';
      values[':grantKey'] = grantKey(options.sameGrantAs);
      // Items written before the key existed have none: they are not fenced, rather than never writable.
      condition += ' AND (attribute_not_exists(#grantKey) OR #grantKey = :grantKey)';
    }
    if (options.expectedRevision !== undefined) {
      values[':expected'] = options.expectedRevision;
      condition += ' AND #revision = :expected';
    }
    const fence = options.fence;
    if (fence !== undefined) {
      names['#leaseOwner'] = 'leaseOwner';
      names['#leaseExpiresAt'] = 'leaseExpiresAt';
      if (fence === 'break') {
        remove.push('#leaseOwner', '#leaseExpiresAt');
        if (update.pendingVersion === undefined) {
          names['#pendingVersion'] = 'pendingVersion';
          remove.push('#pendingVersion');
        }
      } else {
        values[':owner'] = fence.owner;
        values[':nowMs'] = Date.parse(options.now);
        condition += ' AND #leaseOwner = :owner AND #leaseExpiresAt > :nowMs';
        if (fence.then === 'release') remove.push('#leaseOwner', '#leaseExpiresAt');
      }
    }
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: profileKey(id),
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!out.Attributes) throw new Error(`DynamoDB returned no attributes for the status update of profile "${id}"`);
      return toRecord(out.Attributes);
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConditionFailedError(
          options.expectedRevision === undefined
            ? `profile "${id}" does not exist`
            : `profile "${id}" is gone or no longer at revision ${options.expectedRevision}`,
        );
      }
      throw error;
    }
  }

  /**
   * Takes the lease when it is free or expired: one conditional UpdateItem, which also bumps `revision` so
   * that a concurrent profile replacement cannot silently drop the lease. Returns the item as written.
   */
  async acquireLease(
    id: string,
    owner: string,
    options: { now: number; durationMs: number; pendingVersion?: string },
  ): Promise<ProfileRecord | undefined> {
    const pending = options.pendingVersion !== undefined;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: profileKey(id),
          UpdateExpression: `SET #leaseOwner = :owner, #leaseExpiresAt = :expiresAt, #revision = #revision + :one${
            pending ? ', #pendingVersion = if_not_exists(#pendingVersion, :pendingVersion)' : ''
          }`,
          ConditionExpression:
            'attribute_exists(#pk) AND attribute_not_exists(#deleting) AND (attribute_not_exists(#leaseOwner) OR #leaseExpiresAt <= :now)',
          ExpressionAttributeNames: {
            '#pk': TABLE_SCHEMA.partitionKey,
            '#deleting': 'deleting',
            '#leaseOwner': 'leaseOwner',
            '#leaseExpiresAt': 'leaseExpiresAt',
            '#revision': 'revision',
            ...(pending ? { '#pendingVersion': 'pendingVersion' } : {}),
          },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':expiresAt': options.now + options.durationMs,
            ':now': options.now,
            ':one': 1,
            ...(pending ? { ':pendingVersion': options.pendingVersion } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ? toRecord(out.Attributes) : undefined;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }

  async releaseLease(id: string, owner: string, options: { pendingVersion?: string } = {}): Promise<void> {
    const release = (withPending: boolean) =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: profileKey(id),
          UpdateExpression: `REMOVE #leaseOwner, #leaseExpiresAt${withPending ? ', #pendingVersion' : ''} SET #revision = #revision + :one`,
          ConditionExpression: `#leaseOwner = :owner${withPending ? ' AND #pendingVersion = :pendingVersion' : ''}`,
          ExpressionAttributeNames: {
            '#leaseOwner': 'leaseOwner',
            '#leaseExpiresAt': 'leaseExpiresAt',
            '#revision': 'revision',
            ...(withPending ? { '#pendingVersion': 'pendingVersion' } : {}),
          },
          ExpressionAttributeValues: { ':owner': owner, ':one': 1, ...(withPending ? { ':pendingVersion': options.pendingVersion } : {}) },
        }),
      );
    try {
      await release(options.pendingVersion !== undefined);
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // Someone took over after our lease expired (theirs now, nothing to release), or the version recorded
      // is no longer ours: then the lease alone goes.
      if (options.pendingVersion === undefined) return;
      try {
        await release(false);
      } catch (again) {
        if (!isConditionalCheckFailed(again)) throw again;
      }
    }
  }

  async markDeleting(id: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: profileKey(id),
          UpdateExpression: 'SET #deleting = :true, #revision = #revision + :one REMOVE #leaseOwner, #leaseExpiresAt',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: {
            '#pk': TABLE_SCHEMA.partitionKey,
            '#deleting': 'deleting',
            '#revision': 'revision',
            '#leaseOwner': 'leaseOwner',
            '#leaseExpiresAt': 'leaseExpiresAt',
          },
          ExpressionAttributeValues: { ':true': true, ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async deleteProfile(id: string): Promise<boolean> {
    const out = await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: profileKey(id), ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
  }

  /** Conditional on the key being new: a `state` collision (or a replayed write) never overwrites. */
  async putPendingAuthorization(pending: PendingAuthorization): Promise<void> {
    const expiresAtMs = Date.parse(pending.expiresAt);
    if (Number.isNaN(expiresAtMs)) throw new Error('the pending authorization has an invalid expiresAt');
    const item = {
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
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConditionFailedError('a pending authorization with this state already exists');
      }
      throw error;
    }
  }

  async getPendingAuthorization(state: string): Promise<PendingAuthorization | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [TABLE_SCHEMA.partitionKey]: stateKey(state), [TABLE_SCHEMA.sortKey]: STATE_SK },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item) return undefined;
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

  async consumePendingAuthorization(state: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [TABLE_SCHEMA.partitionKey]: stateKey(state), [TABLE_SCHEMA.sortKey]: STATE_SK },
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /**
   * Deletes the profile's pending authorizations found on `gsi1` (eventually consistent: one written in the
   * same instant may survive, and then expires on its own). Returns how many this call deleted.
   */
  async deletePendingAuthorizations(profileId: string): Promise<number> {
    const items = await this.queryAll({
      IndexName: TABLE_SCHEMA.indexes.gsi1.indexName,
      KeyConditionExpression: '#gpk = :gpk',
      ProjectionExpression: '#pk, #sk',
      ExpressionAttributeNames: {
        '#gpk': TABLE_SCHEMA.indexes.gsi1.partitionKey,
        '#pk': TABLE_SCHEMA.partitionKey,
        '#sk': TABLE_SCHEMA.sortKey,
      },
      ExpressionAttributeValues: { ':gpk': PENDING_PREFIX + profileId },
    });
    let deleted = 0;
    for (let i = 0; i < items.length; i += DELETE_CONCURRENCY) {
      const results = await Promise.all(
        items.slice(i, i + DELETE_CONCURRENCY).map((item) =>
          this.client.send(
            new DeleteCommand({
              TableName: this.tableName,
              Key: { [TABLE_SCHEMA.partitionKey]: item[TABLE_SCHEMA.partitionKey], [TABLE_SCHEMA.sortKey]: item[TABLE_SCHEMA.sortKey] },
              ReturnValues: 'ALL_OLD',
            }),
          ),
        ),
      );
      deleted += results.filter((out) => out.Attributes !== undefined).length;
    }
    return deleted;
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>): Promise<Item[]> {
    const items: Item[] = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          ...input,
          TableName: this.tableName,
          ...(this.pageSize !== undefined ? { Limit: this.pageSize } : {}),
          ...(exclusiveStartKey ? { ExclusiveStartKey: exclusiveStartKey } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
    return items;
  }
}

/** Code-unit order, the same order DynamoDB gives string sort keys for ASCII ids. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toItem(record: ProfileRecord): Item {
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
    grantKey: grantKey(record.config),
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
function toRecord(item: Item): ProfileRecord {
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

/** `grantIdentity` (what tokens are bound to), stored on the profile item so a commit can be conditional on it. */
function grantKey(config: ProfileConfig): string {
  return grantIdentity(config);
}
