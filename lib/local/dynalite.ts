/**
 * dynalite (DynamoDB's API over LevelDB: real conditions, GSIs, pagination) on a free loopback port, with a
 * client and a document client pointed at it. Local mode's embedded DynamoDB, and the tests' DynamoDB.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { closeServer, listenOnLoopback } from './loopback.js';

// dynalite ships no type declarations.
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
const dynalite = createRequire(import.meta.url)('dynalite') as (options?: DynaliteOptions) => Server;

export interface StartDynaliteOptions {
  /** Where LevelDB keeps the data; default: in memory. */
  path?: string;
  /** The clients' region. */
  region: string;
  /** The clients' credentials: dynalite checks that requests are signed, not by whom. */
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface RunningDynalite {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  client: DynamoDBClient;
  /** Removes `undefined` values, like `createDocumentClient`. */
  doc: DynamoDBDocumentClient;
  /** Destroys the clients and stops the server (open keep-alive connections included). */
  close(): Promise<void>;
}

/** Tables are created, deleted and updated at once (no CREATING phase). */
export async function startDynalite(options: StartDynaliteOptions): Promise<RunningDynalite> {
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listenOnLoopback(server, 0);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: options.credentials });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    client,
    doc,
    async close() {
      client.destroy();
      // dynalite's close waits for pending LevelDB operations, then closes the store.
      await closeServer(server);
    },
  };
}
