/**
 * Kept for existing imports: the DynamoDB profile store lives in `lib/adapters/dynamodb/` (table, items,
 * store).
 */
export { DUE_PARTITION, TABLE_SCHEMA, createDocumentClient, createTable } from './dynamodb/table.js';
export { DynamoDbProfileStore } from './dynamodb/store.js';
