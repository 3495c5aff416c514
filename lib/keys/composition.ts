/**
 * How the signing keys are put together in the cloud (KMS keys named by the stack, the ring in the broker's
 * table, EventBridge signals) and in local mode (keys made by the broker, sealed in the file vault).
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Log } from '../logger.js';
import type { Clock } from '../ports.js';
import { DynamoDbKeyRingStore } from './dynamodb-key-ring-store.js';
import { EventBridgeSigningKeyEvents, type SigningKeyEvents } from './events.js';
import { LocalKeyProvider, NoKeyProvider, type LocalKeyVault } from './key-providers.js';
import { KmsKeyProvider, type ConfiguredKmsKey } from './kms-keys.js';
import { SigningKeys } from './signing-keys.js';

/** `GET /jwks` beside `GET /callback`: both are the public routes of the same API stage. */
export function jwksUriFor(callbackUrl: string): string {
  return new URL('jwks', callbackUrl).href;
}

export interface SigningKeysOverrides {
  kms?: Pick<KMSClient, 'send'>;
  events?: SigningKeyEvents;
  assertionClock?: Clock;
}

export function createSigningKeys(options: {
  tableName: string;
  dynamoDb: DynamoDBDocumentClient;
  keys: ConfiguredKmsKey[];
  callbackUrl: string;
  eventBusName: string;
  environment: string | undefined;
  clock: Clock;
  logger: Log;
  kmsClientOptions?: ConstructorParameters<typeof KMSClient>[0];
} & SigningKeysOverrides): SigningKeys {
  const provider =
    options.keys.length === 0
      ? new NoKeyProvider()
      : new KmsKeyProvider({ keys: options.keys, ...(options.kms ? { client: options.kms } : {}), ...(options.kmsClientOptions ? { clientOptions: options.kmsClientOptions } : {}) });
  return new SigningKeys({
    ring: new DynamoDbKeyRingStore({ tableName: options.tableName, client: options.dynamoDb }),
    provider,
    clock: options.clock,
    logger: options.logger,
    events: options.events ?? new EventBridgeSigningKeyEvents(options.eventBusName, options.logger, options.environment),
    jwksUri: jwksUriFor(options.callbackUrl),
    ...(options.assertionClock ? { assertionClock: options.assertionClock } : {}),
  });
}

export function createLocalSigningKeys(options: {
  tableName: string;
  dynamoDb: DynamoDBDocumentClient;
  vault: LocalKeyVault;
  callbackUrl: string;
  clock: Clock;
  logger: Log;
  events?: SigningKeyEvents;
}): SigningKeys {
  return new SigningKeys({
    ring: new DynamoDbKeyRingStore({ tableName: options.tableName, client: options.dynamoDb }),
    provider: new LocalKeyProvider(options.vault),
    clock: options.clock,
    logger: options.logger,
    ...(options.events ? { events: options.events } : {}),
    jwksUri: jwksUriFor(options.callbackUrl),
  });
}
