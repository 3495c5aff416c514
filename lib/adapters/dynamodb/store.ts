/**
 * The DynamoDB `ProfileStore` (docs/design.md "Ports and adapters"): used in the cloud against the stack's
 * table and in local mode against an embedded dynalite. The conditional writes live here; the item layout in
 * `items.ts`, the table in `table.ts`.
 */
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
} from '../../ports.js';
import type { GrantIdentity, ProfileRecord } from '../../profile.js';
import {
  PENDING_PREFIX,
  PROFILES_PK,
  STATE_SK,
  compare,
  pendingItem,
  profileKey,
  stateKey,
  toItem,
  toPending,
  toRecord,
  type Item,
} from './items.js';
import { DUE_PARTITION, TABLE_SCHEMA } from './table.js';

/** How many deletes `deletePendingAuthorizations` runs at once. */
const DELETE_CONCURRENCY = 10;

function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

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
  /** The table's name, its document client and the `Limit` of each query page. */
  private readonly table: { name: string; client: DynamoDBDocumentClient; pageSize: number | undefined };

  /**
   * @param options.pageSize `Limit` of each query page (tests use a small one to exercise pagination);
   *   by default DynamoDB's 1 MB page.
   */
  constructor({ tableName, client, pageSize }: { tableName: string; client: DynamoDBDocumentClient; pageSize?: number }) {
    this.table = { name: tableName, client, pageSize };
  }

  async getProfile(id: string): Promise<ProfileRecord | undefined> {
    const out = await this.table.client.send(
      new GetCommand({ TableName: this.table.name, Key: profileKey(id), ConsistentRead: true }),
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
  async putProfile(record: ProfileRecord, expectedRevision: number | null, grant: GrantIdentity): Promise<void> {
    const condition: Pick<PutCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> =
      expectedRevision === null
        ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey } }
        : {
            ConditionExpression: '#revision = :expected',
            ExpressionAttributeNames: { '#revision': 'revision' },
            ExpressionAttributeValues: { ':expected': expectedRevision },
          };
    try {
      await this.table.client.send(new PutCommand({ TableName: this.table.name, Item: toItem(record, grant), ...condition }));
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
    const setTo = (attribute: string, value: unknown): void => {
      names[`#${attribute}`] = attribute;
      values[`:${attribute}`] = value;
      set.push(`#${attribute} = :${attribute}`);
    };
    // The port's convention for optional attributes: `undefined` keeps, `null` removes.
    const setOrRemove = (attribute: string, value: string | null | undefined): void => {
      if (value === undefined) return;
      if (value !== null) return setTo(attribute, value);
      names[`#${attribute}`] = attribute;
      remove.push(`#${attribute}`);
    };
    if (update.tokenVersion !== undefined) setTo('tokenVersion', update.tokenVersion);
    if (update.status.nextRefreshAt !== null) {
      values[':duePk'] = DUE_PARTITION;
      values[':dueAt'] = update.status.nextRefreshAt;
      set.push('#duePk = :duePk', '#dueAt = :dueAt');
    } else {
      remove.push('#duePk', '#dueAt');
    }
    setOrRemove('stagedTokens', update.stagedTokens);
    names['#deleting'] = 'deleting';
    if (update.lastGrantAt !== undefined) setTo('lastGrantAt', update.lastGrantAt);
    setOrRemove('pendingVersion', update.pendingVersion);
    let condition = 'attribute_exists(#pk) AND attribute_not_exists(#deleting)';
    if (options.sameGrant !== undefined) {
      names['#grantKey'] = 'grantKey';
      values[':grantKey'] = options.sameGrant;
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
      const out = await this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
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
      const out = await this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
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
      this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
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
      await this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
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
    const out = await this.table.client.send(
      new DeleteCommand({ TableName: this.table.name, Key: profileKey(id), ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
  }

  /** Conditional on the key being new: a `state` collision (or a replayed write) never overwrites. */
  async putPendingAuthorization(pending: PendingAuthorization): Promise<void> {
    const item = pendingItem(pending);
    try {
      await this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
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
    const out = await this.table.client.send(
      new GetCommand({
        TableName: this.table.name,
        Key: { [TABLE_SCHEMA.partitionKey]: stateKey(state), [TABLE_SCHEMA.sortKey]: STATE_SK },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toPending(state, out.Item) : undefined;
  }

  /** One conditional delete that answers the deleted item (`ReturnValues: ALL_OLD`): no read before it. */
  async consumePendingAuthorization(state: string): Promise<PendingAuthorization | undefined> {
    try {
      const out = await this.table.client.send(
        new DeleteCommand({
          TableName: this.table.name,
          Key: { [TABLE_SCHEMA.partitionKey]: stateKey(state), [TABLE_SCHEMA.sortKey]: STATE_SK },
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return out.Attributes ? toPending(state, out.Attributes) : undefined;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
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
          this.table.client.send(
            new DeleteCommand({
              TableName: this.table.name,
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
      const out = await this.table.client.send(
        new QueryCommand({
          ...input,
          TableName: this.table.name,
          ...(this.table.pageSize !== undefined ? { Limit: this.table.pageSize } : {}),
          ...(exclusiveStartKey ? { ExclusiveStartKey: exclusiveStartKey } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
    return items;
  }
}

