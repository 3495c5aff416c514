/**
 * The DynamoDB `KeyRingStore`: the key ring as one item of the broker's table (`pk` = `sk` = `KEYRING`),
 * beside the profiles but outside their indexes (no `gsi1pk`, no `duePk`), so listing profiles and the
 * due-refresh query never see it. Used in the cloud and, on dynalite, in local mode.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_SCHEMA } from '../adapters/dynamodb-profile-store.js';
import { ConditionFailedError } from '../ports.js';
import type { KeyRing, KeyRingStore, RingKey } from './key-ring.js';

export const KEY_RING_KEY = { [TABLE_SCHEMA.partitionKey]: 'KEYRING', [TABLE_SCHEMA.sortKey]: 'KEYRING' };

export class DynamoDbKeyRingStore implements KeyRingStore {
  constructor(private readonly options: { tableName: string; client: DynamoDBDocumentClient }) {}

  async get(): Promise<KeyRing | undefined> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.options.tableName, Key: KEY_RING_KEY, ConsistentRead: true }));
    if (!out.Item) return undefined;
    return { keys: (out.Item.keys as RingKey[] | undefined) ?? [], revision: Number(out.Item.revision) };
  }

  async put(keys: RingKey[], expectedRevision: number | null): Promise<KeyRing> {
    const revision = (expectedRevision ?? 0) + 1;
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: { ...KEY_RING_KEY, keys, revision },
          ...(expectedRevision === null
            ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey } }
            : { ConditionExpression: '#revision = :expected', ExpressionAttributeNames: { '#revision': 'revision' }, ExpressionAttributeValues: { ':expected': expectedRevision } }),
        }),
      );
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') throw new ConditionFailedError('the key ring was changed by another request');
      throw error;
    }
    return { keys, revision };
  }
}
