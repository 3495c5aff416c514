/**
 * Shared set-up of the handler tests: the broker from the composition root on mocked AWS clients (an
 * in-memory table behind `mockClient(DynamoDBDocumentClient)`, the fake Secrets Manager of test/support),
 * a capturing logger, an injected clock and a scripted token endpoint.
 */
import { afterAll, beforeEach } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { Broker } from '../../../lib/broker.js';
import { createBroker, type BrokerSettings } from '../../../lib/composition.js';
import { LoggedStatusEvents } from '../../../lib/events.js';
import { LoggedSigningKeyEvents } from '../../../lib/keys/events.js';
import type { ConfiguredKmsKey } from '../../../lib/keys/kms-keys.js';
import type { Log } from '../../../lib/logger.js';
import type { BrokerMetrics } from '../../../lib/metrics.js';
import { createFakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { installMemoryTable, type MemoryTable } from './memory-table.js';

export const CALLBACK_URL = 'https://broker.example/test/callback';
export const SECRET_PREFIX = 'oauth-broker/test';
export const START = Date.parse('2026-01-15T10:00:00.000Z');

export const SETTINGS: BrokerSettings = {
  tableName: 'broker-test',
  secretPrefix: SECRET_PREFIX,
  kmsKeyId: undefined,
  callbackUrl: CALLBACK_URL,
  eventBusName: 'default',
  refresh: {},
};

/** A client secret distinctive enough to search for in bodies and logs. */
export const CLIENT_SECRET = 'cs-VERY-distinctive-client-secret-4711';

/** A valid authorization_code profile body on https://as.example. */
export function profileBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    authorizationUrl: 'https://as.example/authorize',
    tokenUrl: 'https://as.example/token',
    clientId: 'mes-client',
    clientSecret: CLIENT_SECRET,
    scope: 'openid offline_access',
    ...overrides,
  };
}

export interface CapturedLog {
  logger: Log;
  /** Every log call as one JSON line. */
  lines: string[];
}

export function captureLogger(): CapturedLog {
  const lines: string[] = [];
  const capture =
    (level: string) =>
    (message: unknown, ...extra: unknown[]): void => {
      lines.push(JSON.stringify({ level, message, extra }));
    };
  return { lines, logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') } };
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Headers;
  body: URLSearchParams;
}

/** A token endpoint whose next answers the test scripts; it records every request. */
export interface ScriptedTokenEndpoint {
  fetch: typeof fetch;
  requests: RecordedRequest[];
  /** Every following request gets a fresh response from `next`. */
  answer(next: () => Response): void;
}

export function scriptedTokenEndpoint(): ScriptedTokenEndpoint {
  let next: () => Response = () => jsonResponse({ error: 'server_error' }, 500);
  const requests: RecordedRequest[] = [];
  const fake = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    requests.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: new URLSearchParams(typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body : ''),
    });
    return next();
  };
  return {
    fetch: fake as typeof fetch,
    requests,
    answer(answer) {
      next = answer;
    },
  };
}

/**
 * Installs the AWS mocks for a test file: reset (fresh table, empty Secrets Manager, no call history) before
 * each test, restored after the file.
 */
export function useAwsMocks() {
  const ddb = mockClient(DynamoDBDocumentClient);
  const sm = createFakeSecretsManager();
  const documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  let table: MemoryTable | undefined;
  beforeEach(() => {
    ddb.reset();
    table = installMemoryTable(ddb);
    sm.reset();
  });
  afterAll(() => {
    ddb.restore();
    sm.restore();
  });
  return {
    ddb,
    sm,
    documentClient,
    get table(): MemoryTable {
      if (!table) throw new Error('the memory table is installed in beforeEach');
      return table;
    },
    /** Every command sent to DynamoDB and Secrets Manager since the last `resetHistory`. */
    awsCalls(): number {
      return ddb.calls().length + sm.mock.calls().length;
    },
    /** Commands that change something in DynamoDB or Secrets Manager. */
    writes(): number {
      return (
        ddb.commandCalls(PutCommand).length +
        ddb.commandCalls(UpdateCommand).length +
        ddb.commandCalls(DeleteCommand).length +
        sm.calls('CreateSecret') +
        sm.calls('PutSecretValue') +
        sm.calls('DeleteSecret')
      );
    },
    resetHistory(): void {
      ddb.resetHistory();
      sm.mock.resetHistory();
    },
  };
}

export type AwsMocks = ReturnType<typeof useAwsMocks>;

/** Injected time: `sleep` advances it, so nothing in a test waits for real time to pass. */
export class TestClock {
  now = START;
  readonly read = (): number => this.now;
  readonly sleep = async (ms: number): Promise<void> => {
    this.now += ms;
  };
  advance(ms: number): void {
    this.now += ms;
  }
}

/**
 * A new broker (a cold container: empty caches) on the mocked clients. Status events are recorded, not
 * sent to EventBridge.
 */
export function brokerOn(
  aws: AwsMocks,
  options: {
    logger: Log;
    clock: TestClock;
    fetch?: typeof fetch;
    events?: LoggedStatusEvents;
    /** Default: the real Powertools metrics (EMF on stdout). */
    metrics?: BrokerMetrics;
    /** KMS signing keys (`BROKER_SIGNING_KEYS`) on a fake KMS; key events are logged, not sent. */
    signingKeys?: { keys: ConfiguredKmsKey[]; kms: Pick<KMSClient, 'send'> };
  },
): Broker {
  const settings = options.signingKeys ? { ...SETTINGS, signingKeys: options.signingKeys.keys } : SETTINGS;
  return createBroker(settings, {
    dynamoDb: aws.documentClient,
    secretsManager: aws.sm.client,
    logger: options.logger,
    clock: options.clock.read,
    sleep: options.clock.sleep,
    random: () => 0.5,
    events: options.events ?? new LoggedStatusEvents(),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signingKeys ? { signingKeys: { kms: options.signingKeys.kms, events: new LoggedSigningKeyEvents(options.logger) } } : {}),
  });
}

/** The `state` of an authorization URL the broker built. */
export function stateOf(authorizationUrl: string): string {
  const state = new URL(authorizationUrl).searchParams.get('state');
  if (!state) throw new Error('the authorization URL has no state');
  return state;
}

/** Runs the authorization-code flow through the broker: the token endpoint answers `tokens`. */
export async function authorize(
  broker: Broker,
  profileId: string,
  endpoint: ScriptedTokenEndpoint,
  tokens: Record<string, unknown>,
): Promise<void> {
  endpoint.answer(() => jsonResponse(tokens));
  const { authorizationUrl } = await broker.createAuthorizationUrl(profileId);
  await broker.completeAuthorization(new URLSearchParams({ code: 'seed-code', state: stateOf(authorizationUrl) }));
}
