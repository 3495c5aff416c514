/**
 * Local mode (docs/api.md "Local mode"): the broker on a laptop, without an AWS account. The same use cases and
 * the same `lambdas/` handlers as in the cloud, over
 * - an embedded dynalite persisted under the data directory, with the same DynamoDB adapter and table schema;
 * - the encrypted file vault (`FileVault`) in the same directory;
 * - a `node:http` adapter on 127.0.0.1 that builds API Gateway proxy events;
 * - a timer running the refresh job (the `lambdas/refresh` handler), standing in for the EventBridge schedule;
 * - optionally (`demo`), a demo authorization server with a `demo` profile on it.
 *
 * `startLocalBroker` is what `npm start` runs (`lib/local/main.ts`), and what tests start in-process.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { createHandler as createAuthorizeUrlHandler } from '../../lambdas/authorize-url.js';
import { createHandler as createCallbackHandler } from '../../lambdas/callback.js';
import { createHandler as createProfilesHandler } from '../../lambdas/profiles.js';
import { createHandler as createRefreshHandler } from '../../lambdas/refresh.js';
import { createHandler as createTokenHandler } from '../../lambdas/token.js';
import { createHandler as createJwksHandler } from '../../lambdas/jwks.js';
import { createHandler as createKeysHandler } from '../../lambdas/keys.js';
import { createLocalSigningKeys } from '../keys/composition.js';
import { LoggedSigningKeyEvents, type SigningKeyEvents } from '../keys/events.js';
import { consoleRoutes } from '../console/local-routes.js';
import { createTable, DynamoDbProfileStore } from '../adapters/dynamodb-profile-store.js';
import { FileVault } from '../adapters/file-vault.js';
import { Broker, type RefreshRunSummary } from '../broker.js';
import { LoggedStatusEvents, type StatusChange, type StatusEvents } from '../events.js';
import { errorFields, type Log } from '../logger.js';
import { systemClock, type Clock, type ProfileStore, type SecretVault } from '../ports.js';
import { DEMO_SCOPE, startDemoAuthorizationServer, type DemoAuthorizationServer } from './demo-authorization-server.js';
import { startDynalite } from './dynalite.js';
import { createLocalHttpServer, PortUnavailableError, type ProxyHandler, type Route } from './http-adapter.js';
import { RefreshScheduler } from './refresh-scheduler.js';
import { ROUTES, type Route as ApiRoute } from '../routes.js';

/** The functions that serve routes (the scheduled `refresh` job runs on the local timer instead). */
type ApiFunctionKey = ApiRoute['function'];

export const DEFAULT_PORT = 8787;
export const DEFAULT_DEMO_PORT = 8788;
export const DEFAULT_DATA_DIR = '.broker';
export const DEFAULT_REFRESH_INTERVAL_SECONDS = 60;
export const LOCAL_TABLE_NAME = 'oauth-broker-local';
export const DEMO_PROFILE_ID = 'demo';
/** Subdirectories and files of the data directory. */
export const DATA_LAYOUT = { dynamodb: 'dynamodb', vault: 'vault', lock: 'broker.lock' } as const;

export interface LocalBrokerOptions {
  /** Loopback port of the broker; 0 picks a free one. Default 8787. */
  port?: number;
  /** Where profiles, status and the vault live (created when missing). Default `.broker` in the working directory. */
  dataDir?: string;
  /** How often the refresh job runs; also the broker's refresh policy interval. Default 60. */
  refreshIntervalSeconds?: number;
  /** Also start the demo authorization server and the `demo` profile. Default true. */
  demo?: boolean;
  /** Loopback port of the demo authorization server; 0 picks a free one. Default 8788. */
  demoPort?: number;
  /** The broker's structured logger. Default: Powertools at `POWERTOOLS_LOG_LEVEL`/`LOG_LEVEL`, else WARN. */
  logger?: Log;
  /** Short lines for a person (status changes, refresh runs). Default: none. */
  print?: (line: string) => void;
  /** Run the refresh job once right after start (catching up after the laptop slept). Default true. */
  refreshOnStart?: boolean;
  clock?: Clock;
}

export interface LocalBroker {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly callbackUrl: string;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  readonly refreshIntervalSeconds: number;
  readonly broker: Broker;
  /** Set when the demo is on. */
  readonly demo: { issuer: string; profileId: string; clientId: string } | undefined;
  /** Every status change since start, in order. */
  readonly statusChanges: readonly StatusChange[];
  /** Runs the refresh job now (or joins the run in progress). */
  runRefresh(): Promise<RefreshRunSummary | undefined>;
  /**
   * Stops cleanly: no new refresh runs, waits for the one in progress and for requests in progress, then
   * closes the HTTP server, the demo server and dynalite. Nothing written is lost.
   */
  close(): Promise<void>;
}

/** Bad settings: the message names the environment variable. */
export class LocalConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalConfigurationError';
  }
}

/** Local mode could not start; the message says why and what to do. */
export class LocalStartupError extends Error {
  constructor(
    message: string,
    readonly reason: 'port_in_use' | 'demo_port_in_use' | 'data_dir_in_use' | 'data_dir_unusable' | 'storage_failed' | 'demo_failed',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalStartupError';
  }
}

/** The settings of `npm start` from its environment (docs/api.md "Local mode"). */
export function readLocalOptions(env: NodeJS.ProcessEnv = process.env): Required<Pick<LocalBrokerOptions, 'port' | 'dataDir' | 'refreshIntervalSeconds' | 'demo' | 'demoPort'>> {
  return {
    port: portFrom(env, 'BROKER_PORT', DEFAULT_PORT),
    dataDir: path.resolve(env.BROKER_DATA_DIR || DEFAULT_DATA_DIR),
    refreshIntervalSeconds: positiveSecondsFrom(env, 'BROKER_REFRESH_INTERVAL_SECONDS', DEFAULT_REFRESH_INTERVAL_SECONDS),
    demo: flagFrom(env, 'BROKER_DEMO', true),
    demoPort: portFrom(env, 'BROKER_DEMO_PORT', DEFAULT_DEMO_PORT),
  };
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new LocalConfigurationError(`${name} must be a port number from 0 to 65535 (0 picks a free port); got "${raw}".`);
  return Number(raw);
}

function positiveSecondsFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) <= 0) throw new LocalConfigurationError(`${name} must be a positive whole number of seconds; got "${raw}".`);
  return Number(raw);
}

function flagFrom(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new LocalConfigurationError(`${name} must be 1 (on) or 0 (off); got "${env[name]}".`);
}

/** Powertools Logger, quiet by default so that a person can read the console: WARN unless configured. */
export function createLocalLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  return new Logger({
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'oauth-broker',
    logLevel: (env.POWERTOOLS_LOG_LEVEL || env.LOG_LEVEL || 'WARN').toUpperCase() as 'WARN',
  });
}

/** The Lambda handler of each function that serves routes: local mode builds them over its own broker. */
const HANDLER_FACTORIES = {
  profiles: createProfilesHandler,
  authorizeUrl: createAuthorizeUrlHandler,
  token: createTokenHandler,
  // The callback page links back to the console local mode serves.
  callback: (broker: () => Broker, logger: Log) => createCallbackHandler(broker, logger, { consoleUrl: '/console' }),
  jwks: createJwksHandler,
  keys: createKeysHandler,
} satisfies Record<ApiFunctionKey, (broker: () => Broker, logger: Log) => ProxyHandler>;

/** The API's routes (lib/routes.ts), each served by the real Lambda handler of its function. */
export function localRoutes(broker: () => Broker, logger: Log): Route[] {
  const handlers = new Map<ApiFunctionKey, ProxyHandler>();
  const handlerOf = (fn: ApiFunctionKey): ProxyHandler => {
    let h = handlers.get(fn);
    if (!h) handlers.set(fn, (h = HANDLER_FACTORIES[fn](broker, logger)));
    return h;
  };
  return [
    ...ROUTES.map((route) => ({ method: route.method, resource: route.path, handler: handlerOf(route.function) })),
    // The console beside the API (not an API route: it is local mode's own page, docs/api.md "Console").
    ...consoleRoutes({ callbackUrl: () => broker().callbackUrl, logger }),
  ];
}

/** Data directories locked by this process (the lock file alone cannot tell two brokers of one process apart). */
const lockedHere = new Set<string>();

export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const port = options.port ?? DEFAULT_PORT;
  const dataDir = path.resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const refreshIntervalSeconds = options.refreshIntervalSeconds ?? DEFAULT_REFRESH_INTERVAL_SECONDS;
  const logger = options.logger ?? createLocalLogger();
  const print = options.print ?? (() => undefined);
  const clock = options.clock ?? systemClock;

  // Undone on close, or when a later step fails, in this order: no new refresh run and the one in progress
  // finished; no new request and those in progress answered (their writes are awaited); pending vault
  // writes; the demo server; dynalite (which waits for its pending LevelDB writes); the lock.
  const order = ['the refresh schedule', 'the HTTP server', 'the vault', 'the demo authorization server', 'dynalite', 'the data directory lock'] as const;
  const cleanups: { name: (typeof order)[number]; run: () => Promise<void> }[] = [];
  const closeAll = async () => {
    let first: unknown;
    const due = cleanups.splice(0).sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    for (const { name, run } of due) {
      try {
        await run();
      } catch (error) {
        logger.error(`local mode: closing ${name} failed`, errorFields(error));
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  };

  try {
    // 1. The data directory, locked against a second broker on it (dynalite's store allows one process).
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new LocalStartupError(`The data directory ${dataDir} cannot be created (${errorCode(error)}); choose another with BROKER_DATA_DIR.`, 'data_dir_unusable', { cause: error });
    }
    await lockDataDir(dataDir);
    cleanups.push({ name: 'the data directory lock', run: () => unlockDataDir(dataDir) });

    // 2. The port, before anything else is opened: the callback URL names it.
    // The handlers need the broker, the broker needs the callback URL, which needs the bound port.
    const current: { broker?: Broker } = {};
    const http = createLocalHttpServer({
      routes: localRoutes(() => current.broker!, logger),
      isReady: () => current.broker !== undefined,
      onError: (error) => logger.error('local mode: handler failed', errorFields(error)),
    });
    try {
      await http.listen(port);
    } catch (error) {
      if (error instanceof PortUnavailableError) {
        throw new LocalStartupError(
          `${error.message} ${error.code === 'EADDRINUSE' ? 'Another broker may be running. ' : ''}` +
            `Stop the process using it, or choose another port with BROKER_PORT (e.g. BROKER_PORT=${port === DEFAULT_PORT ? 8790 : DEFAULT_PORT}).`,
          'port_in_use',
          { cause: error },
        );
      }
      throw error;
    }
    cleanups.push({ name: 'the HTTP server', run: () => http.close() });
    const url = http.url;
    const callbackUrl = `${url}/callback`;

    // 3. Storage: the vault, then dynalite on disk with the broker's table.
    let vault: FileVault;
    try {
      vault = await FileVault.open({ dir: path.join(dataDir, DATA_LAYOUT.vault) });
    } catch (error) {
      throw new LocalStartupError(`The local vault cannot be opened: ${error instanceof Error ? error.message : String(error)}`, 'storage_failed', { cause: error });
    }
    cleanups.push({ name: 'the vault', run: () => vault.idle() });
    const db = await startEmbeddedDynamoDb(path.join(dataDir, DATA_LAYOUT.dynamodb));
    cleanups.push({ name: 'dynalite', run: () => db.close() });

    // 4. The broker, exactly as in the cloud but for its adapters.
    const statusChanges: StatusChange[] = [];
    const events = new PrintedStatusEvents(new LoggedStatusEvents(logger), print, statusChanges);
    const store = new DynamoDbProfileStore({ tableName: LOCAL_TABLE_NAME, client: db.doc });
    const broker = new Broker({
      store,
      vault,
      clock,
      logger,
      events,
      callbackUrl,
      refresh: { intervalSeconds: refreshIntervalSeconds },
      // Local mode accepts loopback http: endpoints (a development server); the cloud never does.
      urlPolicy: 'local',
      // Keys made here, their private halves sealed in the vault (docs/keys.md).
      signingKeys: createLocalSigningKeys({
        tableName: LOCAL_TABLE_NAME,
        dynamoDb: db.doc,
        vault,
        callbackUrl,
        clock,
        logger,
        events: printedKeyEvents(new LoggedSigningKeyEvents(logger), print),
      }),
    });
    current.broker = broker;

    // 5. The demo.
    let demo: LocalBroker['demo'];
    if (options.demo ?? true) {
      const server = await startDemo(options.demoPort ?? DEFAULT_DEMO_PORT, callbackUrl);
      cleanups.push({ name: 'the demo authorization server', run: () => server.close() });
      await registerDemoProfile(broker, store, vault, server);
      demo = { issuer: server.issuer, profileId: DEMO_PROFILE_ID, clientId: server.clientId };
    }

    // 6. The refresh job on a timer: the real scheduled handler, like the EventBridge rule in the cloud.
    const refreshHandler = createRefreshHandler(() => broker, logger);
    const scheduler = new RefreshScheduler<RefreshRunSummary>({
      run: () => refreshHandler({ source: 'oauth-broker.local', 'detail-type': 'Scheduled Event' }),
      intervalMs: refreshIntervalSeconds * 1000,
      onResult: (summary) => {
        if (summary.attempted > 0) print(describeRun(summary));
      },
      onError: (error) => logger.error('local mode: refresh run failed', errorFields(error)),
    });
    scheduler.start(options.refreshOnStart === false ? undefined : 0);
    cleanups.push({ name: 'the refresh schedule', run: () => scheduler.stop() });

    let closing: Promise<void> | undefined;
    return {
      url,
      port: http.port,
      callbackUrl,
      dataDir,
      refreshIntervalSeconds,
      broker,
      demo,
      statusChanges,
      runRefresh: () => scheduler.runNow(),
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
}

async function startDemo(port: number, callbackUrl: string): Promise<DemoAuthorizationServer> {
  try {
    return await startDemoAuthorizationServer({ port, redirectUri: callbackUrl });
  } catch (error) {
    if (error instanceof PortUnavailableError) {
      throw new LocalStartupError(
        `The demo authorization server cannot start: ${error.message} Choose another port with BROKER_DEMO_PORT, or turn the demo off with BROKER_DEMO=0.`,
        'demo_port_in_use',
        { cause: error },
      );
    }
    throw new LocalStartupError('The demo authorization server cannot start; turn the demo off with BROKER_DEMO=0.', 'demo_failed', { cause: error });
  }
}

/**
 * The demo server keeps nothing across restarts, so a `demo` profile from an earlier run holds a grant the
 * new server does not know: it is removed and registered afresh (`authorization_required`) on every start.
 * Removed through the adapters rather than `DELETE`, which would try to revoke the dead grant at a server
 * that never issued it (and log that failure).
 */
async function registerDemoProfile(broker: Broker, store: ProfileStore, vault: SecretVault, server: DemoAuthorizationServer): Promise<void> {
  if (await store.getProfile(DEMO_PROFILE_ID)) {
    await store.deletePendingAuthorizations(DEMO_PROFILE_ID);
    await vault.deleteProfileSecrets(DEMO_PROFILE_ID);
    await store.deleteProfile(DEMO_PROFILE_ID);
  }
  await broker.putProfile(
    DEMO_PROFILE_ID,
    JSON.stringify({
      issuer: server.issuer,
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      clientAuthMethod: 'client_secret_basic',
      scope: DEMO_SCOPE,
      // oidc-provider keeps offline_access (hence a refresh token) only with prompt=consent.
      authorizationParams: { prompt: 'consent' },
    }),
  );
}

interface EmbeddedDynamoDb {
  doc: DynamoDBDocumentClient;
  close(): Promise<void>;
}

/** dynalite on a free loopback port, persisted in `dir` (LevelDB), with the broker's table. */
async function startEmbeddedDynamoDb(dir: string): Promise<EmbeddedDynamoDb> {
  const { client, doc, close } = await startDynalite({
    path: dir,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await ensureTable(client);
  } catch (error) {
    await close().catch(() => undefined);
    throw new LocalStartupError(`The embedded DynamoDB in ${dir} cannot be used (${errorCode(error)}). Delete the data directory to start over.`, 'storage_failed', {
      cause: error,
    });
  }
  return { doc, close };
}

async function ensureTable(client: DynamoDBClient): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: LOCAL_TABLE_NAME }));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceNotFoundException')) throw error;
    await createTable(client, LOCAL_TABLE_NAME);
  }
}

/**
 * One broker per data directory: a lock file naming the process. A lock left by a process that no longer
 * runs is taken over.
 */
async function lockDataDir(dataDir: string): Promise<void> {
  const lockFile = path.join(dataDir, DATA_LAYOUT.lock);
  const inUse = (pid: number) =>
    new LocalStartupError(
      `The data directory ${dataDir} is in use by another broker (process ${pid}). Stop it, or choose another directory with BROKER_DATA_DIR. ` +
        `If no broker is running, delete ${lockFile}.`,
      'data_dir_in_use',
    );
  if (lockedHere.has(dataDir)) throw inUse(process.pid);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() })}\n`);
      } finally {
        await handle.close();
      }
      lockedHere.add(dataDir);
      return;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') {
        throw new LocalStartupError(`The data directory ${dataDir} cannot be used (${errorCode(error)}); choose another with BROKER_DATA_DIR.`, 'data_dir_unusable', {
          cause: error,
        });
      }
    }
    const pid = await lockOwner(lockFile);
    if (pid !== undefined && pid !== process.pid && processRuns(pid)) throw inUse(pid);
    await rm(lockFile, { force: true });
  }
  throw inUse(NaN);
}

async function unlockDataDir(dataDir: string): Promise<void> {
  lockedHere.delete(dataDir);
  await rm(path.join(dataDir, DATA_LAYOUT.lock), { force: true });
}

async function lockOwner(lockFile: string): Promise<number | undefined> {
  try {
    const pid = (JSON.parse(await readFile(lockFile, 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errorCode(error) === 'EPERM';
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown error';
}

/** Status changes as the cloud signals them (logged), plus one short line for the person at the console. */
class PrintedStatusEvents implements StatusEvents {
  constructor(
    private readonly inner: StatusEvents,
    private readonly print: (line: string) => void,
    private readonly changes: StatusChange[],
  ) {}

  async statusChanged(change: StatusChange): Promise<void> {
    this.changes.push(change);
    const mark = change.to === 'ready' ? '✓' : '✗';
    const why = change.lastError ? ` (${change.lastError.code}: ${change.lastError.message})` : '';
    this.print(`${mark} profile "${change.profileId}": ${change.from} → ${change.to}${why}`);
    await this.inner.statusChanged(change);
  }
}

/** Key rotation steps as the cloud signals them (logged), plus one line for the person at the console. */
function printedKeyEvents(inner: SigningKeyEvents, print: (line: string) => void): SigningKeyEvents {
  return {
    async keyChanged(change) {
      print(`signing key ${change.kid} (${change.alg}): ${change.step}${change.withdrawAt ? ` until ${change.withdrawAt}` : ''}`);
      await inner.keyChanged(change);
    },
  };
}

function describeRun(summary: RefreshRunSummary): string {
  const counts = Object.entries(summary.outcomes)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(', ');
  return `refresh job: ${summary.attempted} of ${summary.due} due profile${summary.due === 1 ? '' : 's'} handled (${counts})`;
}
