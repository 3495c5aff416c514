/**
 * The broker's DynamoDB table: its fixed schema (the CDK stack creates exactly this), the document client
 * the store uses, and the table's creation for tests and local mode.
 */
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

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

