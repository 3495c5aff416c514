/**
 * The environment of the core-flow integration tests: the real Lambda handlers on a broker built by the
 * composition root, over a real dynalite table and the map-backed fake Secrets Manager, with the real
 * Powertools logger; a real oidc-provider (PKCE required, rotating refresh tokens, `iss` sent); and a
 * loopback "API Gateway" for `GET /callback` so browser or programmatic consent lands on the real
 * callback handler. One environment per test file (`useFlowEnvironment()`); tests use fresh profile ids.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { createTable } from '../../../lib/adapters/dynamodb-profile-store.js';
import type { Broker } from '../../../lib/broker.js';
import { createBroker, type BrokerSettings } from '../../../lib/composition.js';
import { createLogger } from '../../../lib/logger.js';
import type { TokenSet } from '../../../lib/ports.js';
import type { ProfileView } from '../../../lib/profile.js';
import { createHandler as createAuthorizeUrlHandler } from '../../../lambdas/authorize-url.js';
import { createHandler as createCallbackHandler } from '../../../lambdas/callback.js';
import { createHandler as createProfilesHandler } from '../../../lambdas/profiles.js';
import { createHandler as createTokenHandler } from '../../../lambdas/token.js';
import { events, jsonBody } from '../../support/api-events.js';
import { startCallbackBridge, type CallbackBridge, type ProxyHandler } from '../../support/callback-bridge.js';
import { startDynalite, type RunningDynalite } from '../../support/dynalite.js';
import { createFakeSecretsManager, type FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';
import { startOidcServer, type OidcServer } from '../../support/oidc-server.js';
import { scanTable, snapshotSecrets, type SecretSnapshot, type TableItem } from '../../support/store-snapshot.js';

export type AuthMethod = 'client_secret_basic' | 'client_secret_post';
/** `issuer`: only the issuer (endpoints discovered); `endpoints`: authorizationUrl + tokenUrl, no issuer. */
export type ConfigStyle = 'issuer' | 'endpoints';

export const TABLE_NAME = 'broker-flow';
export const SECRET_PREFIX = 'oauth-broker/flow-test';
export const SCOPE = 'openid offline_access';

export interface StoredState {
  table: TableItem[];
  secrets: SecretSnapshot[];
}

export interface FlowEnvironment {
  server: OidcServer;
  db: RunningDynalite;
  secrets: FakeSecretsManager;
  bridge: CallbackBridge;
  broker: Broker;
  callbackUrl: string;
  clients: Record<AuthMethod, { clientId: string; clientSecret: string }>;
  handlers: { profiles: ProxyHandler; authorizeUrl: ProxyHandler; callback: ProxyHandler; token: ProxyHandler };
  /** The broker's clock is `Date.now() + clockOffsetMs`; tests move it instead of sleeping. */
  clock: { offsetMs: number };
  /** A fresh profile id. */
  newProfileId(label: string): string;
  /** The body of a `PUT /profiles/{id}` for one of the server's clients. */
  profileBody(method: AuthMethod, style: ConfigStyle, extra?: Record<string, unknown>): Record<string, unknown>;
  /** PUT the profile, expecting 201. */
  createProfile(id: string, body: Record<string, unknown>): Promise<ProfileView>;
  /** GET authorize-url (expecting 200) and read the pending authorization's verifier from the table. */
  startAuthorization(id: string): Promise<{ authorizationUrl: string; state: string; codeVerifier: string; expiresAt: string }>;
  /** The raw pending-authorization item for `state` (keyed by the state's SHA-256), or undefined. */
  pendingItem(state: string): Promise<TableItem | undefined>;
  /** The token set the vault currently holds for a profile. */
  storedTokenSet(id: string): TokenSet | undefined;
  snapshot(): Promise<StoredState>;
  close(): Promise<void>;
}

let counter = 0;

export async function startFlowEnvironment(): Promise<FlowEnvironment> {
  const bridge = await startCallbackBridge();
  const callbackUrl = bridge.url;
  const clients = {
    client_secret_basic: { clientId: 'flow-basic-client', clientSecret: `basic-${randomBytes(18).toString('base64url')}` },
    client_secret_post: { clientId: 'flow-post-client', clientSecret: `post-${randomBytes(18).toString('base64url')}` },
  } satisfies Record<AuthMethod, { clientId: string; clientSecret: string }>;

  const server = await startOidcServer({
    clients: (Object.keys(clients) as AuthMethod[]).map((method) => ({
      clientId: clients[method].clientId,
      clientSecret: clients[method].clientSecret,
      authMethod: method,
      redirectUris: [callbackUrl],
    })),
    pkceRequired: true,
    rotateRefreshToken: true,
  });

  const db = await startDynalite();
  await createTable(db.client, TABLE_NAME);
  const secrets = createFakeSecretsManager();

  const clock = { offsetMs: 0 };
  const logger = createLogger();
  const settings: BrokerSettings = {
    tableName: TABLE_NAME,
    secretPrefix: SECRET_PREFIX,
    kmsKeyId: undefined,
    callbackUrl,
    eventBusName: 'default',
    refresh: {},
  };
  const broker = createBroker(settings, {
    dynamoDb: db.doc,
    secretsManager: secrets.client,
    logger,
    clock: () => Date.now() + clock.offsetMs,
    // The oidc-provider listens on loopback http:, which only the local URL policy accepts.
    urlPolicy: 'local',
  });
  const handlers = {
    profiles: createProfilesHandler(() => broker, logger),
    authorizeUrl: createAuthorizeUrlHandler(() => broker, logger),
    callback: createCallbackHandler(() => broker, logger),
    token: createTokenHandler(() => broker, logger),
  };
  bridge.handler = handlers.callback;

  const pendingItem = async (state: string): Promise<TableItem | undefined> => {
    const pk = `STATE#${createHash('sha256').update(state, 'utf8').digest('hex')}`;
    const out = await db.doc.send(new GetCommand({ TableName: TABLE_NAME, Key: { pk, sk: 'STATE' }, ConsistentRead: true }));
    return out.Item as TableItem | undefined;
  };

  const env: FlowEnvironment = {
    server,
    db,
    secrets,
    bridge,
    broker,
    callbackUrl,
    clients,
    handlers,
    clock,
    newProfileId(label) {
      counter += 1;
      return `${label}-${counter}-${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 64);
    },
    profileBody(method, style, extra = {}) {
      const endpoints =
        style === 'issuer' ? { issuer: server.issuer } : { authorizationUrl: server.authorizationEndpoint, tokenUrl: server.tokenEndpoint };
      return {
        ...endpoints,
        clientId: clients[method].clientId,
        clientSecret: clients[method].clientSecret,
        clientAuthMethod: method,
        scope: SCOPE,
        authorizationParams: { prompt: 'consent' },
        ...extra,
      };
    },
    async createProfile(id, body) {
      const result = await handlers.profiles(events.putProfile(id, body));
      expect(result.statusCode, result.body).toBe(201);
      return jsonBody<ProfileView>(result);
    },
    async startAuthorization(id) {
      const result = await handlers.authorizeUrl(events.authorizeUrl(id));
      expect(result.statusCode, result.body).toBe(200);
      const { authorizationUrl, expiresAt } = jsonBody<{ authorizationUrl: string; expiresAt: string }>(result);
      const state = new URL(authorizationUrl).searchParams.get('state');
      expect(state).toBeTruthy();
      const item = await pendingItem(state!);
      expect(item?.['profileId']).toBe(id);
      const codeVerifier = item?.['codeVerifier'];
      expect(typeof codeVerifier).toBe('string');
      return { authorizationUrl, state: state!, codeVerifier: codeVerifier as string, expiresAt };
    },
    pendingItem,
    storedTokenSet(id) {
      const value = secrets.currentValue(`${SECRET_PREFIX}/${id}/token-set`);
      return value === undefined ? undefined : (JSON.parse(value) as TokenSet);
    },
    async snapshot() {
      return { table: await scanTable(db.doc, TABLE_NAME), secrets: snapshotSecrets(secrets) };
    },
    async close() {
      bridge.handler = undefined;
      await Promise.allSettled([bridge.close(), server.close(), db.close()]);
      secrets.restore();
    },
  };
  return env;
}

/**
 * The test file's environment and the current test's log capture, set by the hooks `useFlowEnvironment`
 * registers. Live bindings: read them in hooks and tests, not while the file loads.
 */
export let env: FlowEnvironment;
export let logs: LogCapture;

/**
 * Registers the hooks of a test file: one environment for the file; for each test zeroed server counters,
 * the broker's clock back at real time, and the logs captured.
 */
export function useFlowEnvironment(): void {
  beforeAll(async () => {
    env = await startFlowEnvironment();
  });
  afterAll(async () => {
    await env?.close();
  });
  beforeEach(() => {
    env.server.resetCounters();
    env.clock.offsetMs = 0;
    logs = captureLogs();
  });
  afterEach(() => {
    logs.stop();
    env.clock.offsetMs = 0;
  });
}

/** The values that must never reach a log line, a page or an error body. */
export interface SecretValues {
  clientSecret?: string;
  code?: string | null;
  state?: string | null;
  codeVerifier?: string | null;
  accessToken?: string | null;
  refreshToken?: string | null;
}

/** Asserts none of the given (non-empty) secret values occurs in `text`. */
export function expectFreeOfSecrets(text: string, secrets: SecretValues, where = 'the captured logs'): void {
  for (const [name, value] of Object.entries(secrets)) {
    if (value === undefined || value === null) continue;
    expect(value.length, `${name} is too short to search for`).toBeGreaterThanOrEqual(8);
    expect(text.includes(value), `${where} contain the ${name}`).toBe(false);
  }
}

/** The headers docs/api.md requires on every callback page. */
export function expectCallbackPageHeaders(headers: Record<string, unknown> | Headers | undefined): void {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return String(value);
    return undefined;
  };
  expect(get('content-type')).toMatch(/^text\/html/);
  expect(get('cache-control')).toBe('no-store');
  expect(get('referrer-policy')).toBe('no-referrer');
  expect(get('content-security-policy')).toMatch(/default-src 'none'/);
}
