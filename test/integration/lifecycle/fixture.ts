/**
 * The environment of the token-lifecycle integration tests.
 *
 * Per test FILE: one real oidc-provider (rotating refresh tokens, PKCE required, client_credentials on), one
 * dynalite and the fake Secrets Manager. Per TEST: a fresh table and secret prefix (so a scheduled run only
 * ever sees that test's profiles), a shared offset clock (`Date.now() + offset`: time flows, and tests jump
 * it forward instead of sleeping), one `LoggedStatusEvents`, a log capture, and as many `Broker` instances
 * on the same table and vault as the test wants (each one stands for a Lambda container).
 *
 * A test file calls `useLifecycleHooks()` once and reads `env` and `s` (and `faults`) in its tests.
 *
 * The broker's clock decides when a token is due or expired; the authorization server keeps real time, so
 * the refresh tokens it issued (valid 14 days there) still work when the broker's clock is hours ahead.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { DynamoDbProfileStore, createTable } from '../../../lib/adapters/dynamodb-profile-store.js';
import { SecretsManagerVault } from '../../../lib/adapters/secrets-manager-vault.js';
import type { Broker, RefreshRunSummary } from '../../../lib/broker.js';
import { createBroker, type BrokerOverrides, type BrokerSettings } from '../../../lib/composition.js';
import { LoggedStatusEvents, type StatusChange } from '../../../lib/events.js';
import { createLogger, type Log } from '../../../lib/logger.js';
import type { TokenSet } from '../../../lib/ports.js';
import type { ProfileRecord, ProfileView } from '../../../lib/profile.js';
import { createHandler as createRefreshHandler } from '../../../lambdas/refresh.js';
import { createHandler as createTokenHandler } from '../../../lambdas/token.js';
import { createHandler as createProfilesHandler } from '../../../lambdas/profiles.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { startDynalite, type RunningDynalite } from '../../support/dynalite.js';
import { createFakeSecretsManager, type FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';
import { startOidcServer, type OidcServer } from '../../support/oidc-server.js';
import { injectPutSecretValueFaults, type PutSecretValueFaults } from '../../support/secrets-manager-faults.js';

/** Never fetched: the consent helper stops at the redirect and the test hands its query to the broker. */
export const CALLBACK_URL = 'https://broker.lifecycle.test/callback';
export const SCOPE = 'openid offline_access';

export interface LifecycleClients {
  /** authorization_code + refresh_token, client_secret_basic */
  code: { clientId: string; clientSecret: string };
  /** client_credentials only, client_secret_basic */
  machine: { clientId: string; clientSecret: string };
}

export interface LifecycleServer {
  server: OidcServer;
  db: RunningDynalite;
  secrets: FakeSecretsManager;
  clients: LifecycleClients;
  close(): Promise<void>;
}

export async function startLifecycleServer(options: { accessTokenTtlSeconds?: number } = {}): Promise<LifecycleServer> {
  const clients: LifecycleClients = {
    code: { clientId: 'lifecycle-code', clientSecret: `code-secret-${randomBytes(18).toString('base64url')}` },
    machine: { clientId: 'lifecycle-machine', clientSecret: `machine-secret-${randomBytes(18).toString('base64url')}` },
  };
  const server = await startOidcServer({
    clients: [
      { ...clients.code, authMethod: 'client_secret_basic', redirectUris: [CALLBACK_URL] },
      { ...clients.machine, authMethod: 'client_secret_basic', redirectUris: [], grantTypes: ['client_credentials'] },
    ],
    pkceRequired: true,
    rotateRefreshToken: true,
    clientCredentials: true,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
  });
  const db = await startDynalite();
  const secrets = createFakeSecretsManager();
  return {
    server,
    db,
    secrets,
    clients,
    async close() {
      await Promise.allSettled([server.close(), db.close()]);
      secrets.restore();
    },
  };
}

/** `Date.now() + offsetMs`: tests move the offset instead of sleeping. */
export interface TestClock {
  (): number;
  offsetMs: number;
  /** Moves the broker's time forward. */
  advance(ms: number): void;
  /** Makes the broker's "now" this instant (time keeps flowing from there). */
  set(instant: number): void;
}

export function offsetClock(): TestClock {
  const clock = (() => Date.now() + clock.offsetMs) as TestClock;
  clock.offsetMs = 0;
  clock.advance = (ms) => {
    clock.offsetMs += ms;
  };
  clock.set = (instant) => {
    clock.offsetMs = instant - Date.now();
  };
  return clock;
}

/** A short real pause for lease-wait polling (never used to let a token expire). */
export const shortSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 20)));

export interface Scenario {
  env: LifecycleServer;
  tableName: string;
  secretPrefix: string;
  settings: BrokerSettings;
  clock: TestClock;
  events: LoggedStatusEvents;
  logs: LogCapture;
  logger: Log;
  store: DynamoDbProfileStore;
  /** A vault on the same fake, for reading what the broker stored. */
  vault: SecretsManagerVault;
  /** The first broker (the "admin" container). */
  broker: Broker;
  /** Another broker on the same table and vault: another Lambda container. */
  newBroker(overrides?: BrokerOverrides): Broker;
  /** A fresh profile id. */
  newId(label: string): string;
  /** The body of a `PUT /profiles/{id}` for the code client (endpoints, no issuer), with overrides. */
  profileBody(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** PUT a profile through the broker; the body is `profileBody(body)`. */
  createProfile(id: string, body?: Record<string, unknown>): Promise<ProfileView>;
  /** authorize-url → programmatic consent (login `login`) → completeAuthorization. */
  authorize(id: string, login: string, broker?: Broker): Promise<void>;
  record(id: string): Promise<ProfileRecord>;
  /** The token set the profile points at (its `tokenVersion`). */
  heldTokens(id: string): Promise<TokenSet>;
  /** The secret name of a profile's token set. */
  tokenSetName(id: string): string;
  /** Every access and refresh token any version of the profile's token-set secret ever held. */
  allTokensEverStored(id: string): string[];
  /** Status changes of one profile, in order. */
  changes(id: string): StatusChange[];
  /** A scheduled run through `lambdas/refresh.ts`. */
  scheduledRun(broker?: Broker): Promise<RefreshRunSummary>;
  /** `GET /profiles/{id}/token` through `lambdas/token.ts`. */
  tokenHandler(broker?: Broker): ReturnType<typeof createTokenHandler>;
  profilesHandler(broker?: Broker): ReturnType<typeof createProfilesHandler>;
  /** Asserts the captured logs are not empty and hold none of the values. */
  expectLogsFreeOf(values: Array<string | null | undefined>): void;
  stop(): void;
}

let scenarioCounter = 0;

export async function startScenario(env: LifecycleServer, options: { brokerOverrides?: BrokerOverrides } = {}): Promise<Scenario> {
  scenarioCounter += 1;
  const suffix = `${scenarioCounter}-${randomBytes(3).toString('hex')}`;
  const tableName = `lifecycle-${suffix}`;
  const secretPrefix = `oauth-broker/lifecycle-${suffix}`;
  await createTable(env.db.client, tableName);
  const logs = captureLogs();
  const logger = createLogger();
  const clock = offsetClock();
  const events = new LoggedStatusEvents(logger);
  const settings: BrokerSettings = {
    tableName,
    secretPrefix,
    kmsKeyId: undefined,
    callbackUrl: CALLBACK_URL,
    eventBusName: 'default',
    refresh: {},
  };
  const newBroker = (overrides: BrokerOverrides = {}) =>
    createBroker(settings, {
      dynamoDb: env.db.doc,
      secretsManager: env.secrets.client,
      logger,
      clock,
      events,
      sleep: shortSleep,
      random: () => 0.5,
      // The oidc-provider listens on loopback http:, which only the local URL policy accepts.
      urlPolicy: 'local',
      ...options.brokerOverrides,
      ...overrides,
    });
  const broker = newBroker();
  const store = new DynamoDbProfileStore({ tableName, client: env.db.doc });
  const vault = new SecretsManagerVault({ client: env.secrets.client, prefix: secretPrefix });
  let idCounter = 0;

  const scenario: Scenario = {
    env,
    tableName,
    secretPrefix,
    settings,
    clock,
    events,
    logs,
    logger,
    store,
    vault,
    broker,
    newBroker,
    newId(label) {
      idCounter += 1;
      return `${label}-${idCounter}`;
    },
    profileBody(overrides = {}) {
      return {
        authorizationUrl: env.server.authorizationEndpoint,
        tokenUrl: env.server.tokenEndpoint,
        clientId: env.clients.code.clientId,
        clientSecret: env.clients.code.clientSecret,
        scope: SCOPE,
        authorizationParams: { prompt: 'consent' },
        ...overrides,
      };
    },
    async createProfile(id, body = {}) {
      const { created, view } = await broker.putProfile(id, JSON.stringify(scenario.profileBody(body)));
      expect(created).toBe(true);
      return view;
    },
    async authorize(id, login, via = broker) {
      const { authorizationUrl } = await via.createAuthorizationUrl(id);
      const redirect = await completeConsentProgrammatically(authorizationUrl, { login });
      const params = new URL(redirect).searchParams;
      expect(params.get('error'), params.get('error_description') ?? '').toBeNull();
      await via.completeAuthorization(params);
    },
    async record(id) {
      const record = await store.getProfile(id);
      expect(record, `profile ${id} exists`).toBeDefined();
      return record!;
    },
    async heldTokens(id) {
      const record = await scenario.record(id);
      expect(record.tokenVersion).not.toBeNull();
      const tokens = await vault.getTokenSet(id, record.tokenVersion!);
      expect(tokens).toBeDefined();
      return tokens!;
    },
    tokenSetName(id) {
      return `${secretPrefix}/${id}/token-set`;
    },
    allTokensEverStored(id) {
      const secret = env.secrets.secrets.get(scenario.tokenSetName(id));
      if (!secret) return [];
      return [...secret.versions.values()].flatMap((version) => {
        const set = JSON.parse(version.secretString) as TokenSet;
        return [set.accessToken, set.refreshToken].filter((v): v is string => typeof v === 'string' && v.length > 0);
      });
    },
    changes(id) {
      return events.changes.filter((change) => change.profileId === id);
    },
    scheduledRun(via = broker) {
      return createRefreshHandler(() => via, logger)({});
    },
    tokenHandler(via = broker) {
      return createTokenHandler(() => via, logger);
    },
    profilesHandler(via = broker) {
      return createProfilesHandler(() => via, logger);
    },
    expectLogsFreeOf(values) {
      const text = logs.text();
      expect(logs.entries().length, 'the broker logged structured entries').toBeGreaterThan(0);
      for (const value of values) {
        if (value === null || value === undefined) continue;
        expect(value.length, 'a secret value long enough to search for').toBeGreaterThanOrEqual(8);
        expect(text.includes(value), `the captured logs contain a secret value (${value.slice(0, 4)}…)`).toBe(false);
      }
    },
    stop() {
      logs.stop();
    },
  };
  return scenario;
}

// ---- the hooks of a test file ---------------------------------------------------------------------

/**
 * The test file's environment and the current test's scenario, set by the hooks `useLifecycleHooks`
 * registers. Live bindings: read them in hooks and tests, not while the file loads.
 */
export let env: LifecycleServer;
export let s: Scenario;
/** The vault faults of `useLifecycleHooks({ vaultFaults: true })`. */
export let faults: PutSecretValueFaults;

export interface LifecycleHookOptions {
  /** Overrides for every broker of every scenario (e.g. its `sleep`). */
  brokerOverrides?: BrokerOverrides;
  /** Inject `PutSecretValue` faults (`faults`), and require after each test that none is left unused. */
  vaultFaults?: boolean;
}

/**
 * Registers the hooks of a test file: one environment for the file; for each test a fresh scenario and
 * zeroed server counters, and afterwards the check that no canned token response (nor injected vault
 * fault) is left over for the next test.
 */
export function useLifecycleHooks(options: LifecycleHookOptions = {}): void {
  beforeAll(async () => {
    env = await startLifecycleServer();
    if (options.vaultFaults) faults = injectPutSecretValueFaults(env.secrets);
  });
  afterAll(async () => {
    await env?.close();
  });
  beforeEach(async () => {
    s = await startScenario(env, { brokerOverrides: options.brokerOverrides });
    env.server.resetCounters();
  });
  afterEach(() => {
    s?.stop();
    if (options.vaultFaults) {
      const unusedFaults = faults.pending();
      faults.clear();
      expect(unusedFaults, 'injected vault faults left unused').toBe(0);
    }
    expect(env.server.pendingFailures(), 'canned token responses left unused').toBe(0);
  });
}

/** A JWS-shaped (unsigned, never verified) access token with the given claims. */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'at+jwt', kid: 'test' })}.${part(claims)}.${randomBytes(32).toString('base64url')}`;
}
