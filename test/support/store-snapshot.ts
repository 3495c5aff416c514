/**
 * Snapshots of everything the broker stores, for "nothing stored changed" assertions: the whole
 * DynamoDB table (a consistent, paginated Scan, sorted by key) and the whole fake Secrets Manager
 * (every secret, version, stage and tag), both as plain JSON-comparable values.
 */
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FakeSecretsManager } from './fake-secrets-manager.js';

export type TableItem = Record<string, unknown>;

export async function scanTable(doc: DynamoDBDocumentClient, tableName: string): Promise<TableItem[]> {
  const items: TableItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...((out.Items ?? []) as TableItem[]));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  const key = (item: TableItem) => `${String(item['pk'])}\u0000${String(item['sk'])}`;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export interface SecretSnapshot {
  name: string;
  arn: string;
  description: string | undefined;
  kmsKeyId: string | undefined;
  tags: Array<{ Key?: string; Value?: string }>;
  deletionDate: string | null;
  versions: Array<{ versionId: string; secretString: string; stages: string[]; createdDate: string }>;
}

export function snapshotSecrets(fake: FakeSecretsManager): SecretSnapshot[] {
  return [...fake.secrets.values()]
    .map((secret) => ({
      name: secret.name,
      arn: secret.arn,
      description: secret.description,
      kmsKeyId: secret.kmsKeyId,
      tags: secret.tags.map((t) => ({ Key: t.Key, Value: t.Value })),
      deletionDate: secret.deletionDate ? secret.deletionDate.toISOString() : null,
      versions: [...secret.versions.entries()].map(([versionId, v]) => ({
        versionId,
        secretString: v.secretString,
        stages: [...v.stages].sort(),
        createdDate: v.createdDate.toISOString(),
      })),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
