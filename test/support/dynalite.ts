/**
 * Starts an in-memory dynalite (real DynamoDB semantics: conditions, GSIs, pagination) on a free loopback
 * port, with a client and a document client pointed at it (`lib/local/dynalite.ts`, as in local mode).
 * Each call starts its own server, so test files do not share state. Create tables with `createTable` from
 * `lib/adapters/dynamodb-profile-store.js`.
 */
import { startDynalite as startLocalDynalite, type RunningDynalite } from '../../lib/local/dynalite.js';

export type { RunningDynalite };

export function startDynalite(): Promise<RunningDynalite> {
  return startLocalDynalite({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}
