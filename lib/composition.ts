/**
 * The composition root: builds the broker once per container from environment variables (docs/design.md,
 * "lambdas/ are thin"). Everything it reads is listed in `readSettings`.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { EventBridgeStatusEvents } from './events.js';
import { PowertoolsMetrics } from './metrics.js';
import { Broker, brokerContext, type BrokerContext, type BrokerDependencies } from './broker.js';
import { DynamoDbProfileStore, createDocumentClient } from './adapters/dynamodb-profile-store.js';
import { SecretsManagerVault } from './adapters/secrets-manager-vault.js';
import { createLogger, type Log } from './logger.js';
import { systemClock } from './ports.js';
import { readRefreshSettings, type RefreshPolicy } from './lifecycle/timing.js';
import { AWS_CLIENT_SETTINGS } from './aws-client-settings.js';
import { createSigningKeys, type SigningKeysOverrides } from './keys/composition.js';
import type { SigningKeys } from './keys/signing-keys.js';
import { parseSigningKeys, SigningKeysConfigurationError, type ConfiguredKmsKey } from './keys/kms-keys.js';

export interface BrokerSettings {
  tableName: string;
  secretPrefix: string;
  kmsKeyId: string | undefined;
  callbackUrl: string;
  eventBusName: string;
  /** `BROKER_ENVIRONMENT`: the environment's name, added to status events. */
  environment?: string | undefined;
  refresh: Partial<RefreshPolicy>;
  /** `BROKER_SIGNING_KEYS`: the KMS keys that sign client assertions (docs/keys.md). */
  signingKeys?: ConfiguredKmsKey[];
}

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/**
 * Reads the broker's settings:
 * - `BROKER_TABLE_NAME` (required): the DynamoDB table;
 * - `BROKER_CALLBACK_URL` (required): the public `GET /callback` URL;
 * - `BROKER_SECRET_PREFIX` (default `oauth-broker`): secrets are `<prefix>/<profileId>/…`;
 * - `BROKER_KMS_KEY_ID`: the customer-managed key for new secrets;
 * - `BROKER_EVENT_BUS_NAME` (default `default`);
 * - `BROKER_SIGNING_KEYS`: `<alg>=<KMS key ARN>`, comma-separated, the keys of `private_key_jwt` (docs/keys.md);
 * - `BROKER_REFRESH_INTERVAL_SECONDS`, `BROKER_REFRESH_MARGIN_SECONDS`, `BROKER_KEEP_ALIVE_SECONDS`.
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): BrokerSettings {
  const missing = ['BROKER_TABLE_NAME', 'BROKER_CALLBACK_URL'].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigurationError(`Missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.`);
  }
  const refresh = readRefreshSettings(env);
  if (refresh.problems.length > 0) throw new ConfigurationError(refresh.problems[0]!);
  return {
    tableName: env.BROKER_TABLE_NAME!,
    callbackUrl: parseUrl('BROKER_CALLBACK_URL', env.BROKER_CALLBACK_URL!),
    secretPrefix: (env.BROKER_SECRET_PREFIX ?? 'oauth-broker').replace(/\/+$/, ''),
    kmsKeyId: env.BROKER_KMS_KEY_ID || undefined,
    eventBusName: env.BROKER_EVENT_BUS_NAME || 'default',
    environment: env.BROKER_ENVIRONMENT || undefined,
    signingKeys: signingKeysFrom(env.BROKER_SIGNING_KEYS),
    refresh: refresh.policy,
  };
}

function signingKeysFrom(value: string | undefined): ConfiguredKmsKey[] {
  try {
    return parseSigningKeys(value);
  } catch (error) {
    if (error instanceof SigningKeysConfigurationError) throw new ConfigurationError(error.message);
    throw error;
  }
}

function parseUrl(name: string, value: string): string {
  try {
    return new URL(value).href;
  } catch {
    throw new ConfigurationError(`${name} must be an absolute URL.`);
  }
}

/** Bounded AWS calls (lib/aws-client-settings.ts): the refresh path's time budget is derived from them. */
const AWS_CLIENT_OPTIONS = {
  maxAttempts: AWS_CLIENT_SETTINGS.maxAttempts,
  requestHandler: { ...AWS_CLIENT_SETTINGS.requestHandler },
};

/**
 * What tests, benchmarks and local mode may replace. `urlPolicy`: the Lambda functions run with `cloud`,
 * the default; tests that put a loopback `http:` authorization server behind the Lambda composition say
 * `local`.
 */
export interface BrokerOverrides
  extends Partial<Pick<BrokerDependencies, 'logger' | 'clock' | 'fetch' | 'events' | 'metrics' | 'sleep' | 'random' | 'leaseMs' | 'maxWaitMs' | 'urlPolicy'>> {
  dynamoDb?: DynamoDBDocumentClient;
  secretsManager?: SecretsManagerClient;
  /** The signing keys' KMS client, events and assertion clock (tests). */
  signingKeys?: SigningKeysOverrides;
}

export function createBroker(settings: BrokerSettings, overrides: BrokerOverrides = {}): Broker {
  return new Broker(brokerDependencies(settings, overrides));
}

/** The adapters and settings the broker runs on in the cloud, with the given overrides. */
export function brokerDependencies(settings: BrokerSettings, overrides: BrokerOverrides = {}): BrokerDependencies {
  const dynamoDb = overrides.dynamoDb ?? createDocumentClient(AWS_CLIENT_OPTIONS);
  const secretsManager = overrides.secretsManager ?? new SecretsManagerClient(AWS_CLIENT_OPTIONS);
  const logger = overrides.logger ?? sharedLogger();
  // The EventBridge client is made on first use only: the token path never signals on a warm request.
  const events = overrides.events ?? new EventBridgeStatusEvents(undefined, settings.eventBusName, logger, settings.environment);
  const signingKeys = signingKeysOn(settings, dynamoDb, logger, overrides);
  return {
    signingKeys,
    store: new DynamoDbProfileStore({ tableName: settings.tableName, client: dynamoDb }),
    vault: new SecretsManagerVault({
      client: secretsManager,
      prefix: settings.secretPrefix,
      ...(settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : {}),
    }),
    clock: overrides.clock ?? systemClock,
    logger,
    events,
    metrics: overrides.metrics ?? new PowertoolsMetrics(),
    callbackUrl: settings.callbackUrl,
    refresh: settings.refresh,
    urlPolicy: overrides.urlPolicy ?? 'cloud',
    ...pick(overrides, ['fetch', 'sleep', 'random', 'leaseMs', 'maxWaitMs']),
  };
}

/** The signing keys of `private_key_jwt` (docs/keys.md): the configured KMS keys, their ring in the table. */
function signingKeysOn(settings: BrokerSettings, dynamoDb: DynamoDBDocumentClient, logger: Log, overrides: BrokerOverrides): SigningKeys {
  return createSigningKeys({
    tableName: settings.tableName,
    dynamoDb,
    keys: settings.signingKeys ?? [],
    callbackUrl: settings.callbackUrl,
    eventBusName: settings.eventBusName,
    environment: settings.environment,
    clock: overrides.clock ?? systemClock,
    logger,
    kmsClientOptions: AWS_CLIENT_OPTIONS,
    ...overrides.signingKeys,
  });
}

/** The given overrides among `keys` (absent ones stay absent: exactOptionalPropertyTypes). */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((key) => from[key] !== undefined).map((key) => [key, from[key]])) as Partial<Pick<T, K>>;
}

let logger: Log | undefined;
/** One logger per container. */
export function sharedLogger(): Log {
  return (logger ??= createLogger());
}

let context: BrokerContext | undefined;
/** One broker context per container, built on first use (so a cold start that fails is retried on the next event). */
function contextFromEnvironment(): BrokerContext {
  return (context ??= brokerContext(brokerDependencies(readSettings())));
}

/**
 * A Lambda function's use cases (lib/broker.ts: `tokenUseCases`, `profileReads`, …) on the container's
 * broker context, built on first use. Naming only its own groups keeps the rest of the broker out of the
 * function's bundle (bench/cold-start.bench.ts).
 */
export function fromEnvironment<T>(useCases: (ctx: BrokerContext) => T): () => T {
  let built: T | undefined;
  return () => (built ??= useCases(contextFromEnvironment()));
}

let keysOnly: { signingKeys: SigningKeys } | undefined;
/**
 * The signing keys alone, on their own DynamoDB client, built on first use: the jwks function reads the key
 * ring and nothing else (lib/functions.ts), so it bundles neither the refresher, nor OAuth, nor Secrets Manager.
 */
export function signingKeysFromEnvironment(): { signingKeys: SigningKeys } {
  return (keysOnly ??= { signingKeys: signingKeysOn(readSettings(), createDocumentClient(AWS_CLIENT_OPTIONS), sharedLogger(), {}) });
}

