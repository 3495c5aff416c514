/**
 * The set-up of the end-to-end scenarios: a fresh work directory, local mode in-process on loopback
 * (without the demo) keeping its data there, and the test's own oidc-provider knowing one confidential
 * client (client_secret_basic) whose redirect URI is local mode's callback URL; all stopped after the file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createLocalLogger, startLocalBroker, type LocalBroker, type LocalBrokerOptions } from '../../lib/local/local-broker.js';
import { captureLogs, type LogCapture } from './log-capture.js';
import { startOidcServer, type OidcServer, type OidcServerOptions } from './oidc-server.js';

/** The scenario's profile and the client the authorization server knows. */
export interface ScenarioClient {
  profileId: string;
  clientId: string;
  /** Distinctive and random, so that the secret checks can search every output for it. */
  clientSecret: string;
}

/** `<name>-erp`, `<name>-client` and a fresh `<name>-secret-…`. */
function scenarioClient(name: string): ScenarioClient {
  return { profileId: `${name}-erp`, clientId: `${name}-client`, clientSecret: `${name}-secret-${randomBytes(18).toString('base64url')}` };
}

export interface LocalAndOidcOptions {
  /**
   * Capture everything the process logs from before local mode starts until after the tests, with local
   * mode's logger at DEBUG, so that the secret checks look at everything it can log.
   */
  captureLogs?: boolean;
  /** Local mode's other options. */
  local?: Omit<LocalBrokerOptions, 'port' | 'dataDir' | 'demo' | 'logger'>;
  /** The authorization server's options but its client. */
  oidc?: Omit<OidcServerOptions, 'clients'>;
}

export interface LocalAndOidc {
  readonly client: ScenarioClient;
  /** A temporary directory, removed after the file's tests. */
  readonly work: string;
  /** Local mode's data directory, inside `work`. */
  readonly dataDir: string;
  /** Local mode as started last. */
  readonly local: LocalBroker;
  readonly server: OidcServer;
  /** What the process logged (with `captureLogs`). */
  readonly logs: LogCapture;
  /** Stops local mode (its data stays). */
  stopLocal(): Promise<void>;
  /** Starts local mode again on the same data directory and port, with the same options. */
  startLocal(): Promise<LocalBroker>;
}

/**
 * Starts the scenario of `name` (see `scenarioClient`) before the file's tests and stops it all after them:
 * call it before the file's other hooks, so that they run with it started (and their `afterAll` before it
 * stops).
 */
export function useLocalAndOidc(name: string, options: LocalAndOidcOptions = {}): LocalAndOidc {
  const client = scenarioClient(name);
  let logs: LogCapture | undefined;
  let work: string | undefined;
  let dataDir: string | undefined;
  let local: LocalBroker | undefined;
  let server: OidcServer | undefined;
  let port = 0;
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is started in beforeAll`);
    return value;
  };
  const startLocal = async () => {
    const logger = options.captureLogs ? { logger: createLocalLogger({ POWERTOOLS_LOG_LEVEL: 'DEBUG' }) } : {};
    local = await startLocalBroker({ ...options.local, ...logger, port, dataDir: started(dataDir, 'the data directory'), demo: false });
    port = local.port;
    return local;
  };

  beforeAll(async () => {
    if (options.captureLogs) logs = captureLogs();
    work = await mkdtemp(path.join(tmpdir(), `oauth-broker-${name}-`));
    dataDir = path.join(work, 'data');
    // Local mode first: the authorization server must know its callback URL, which names the port.
    const { callbackUrl } = await startLocal();
    const { clientId, clientSecret } = client;
    server = await startOidcServer({ ...options.oidc, clients: [{ clientId, clientSecret, authMethod: 'client_secret_basic', redirectUris: [callbackUrl] }] });
  }, 60_000);

  afterAll(async () => {
    try {
      await local?.close();
      await server?.close();
      if (work) await rm(work, { recursive: true, force: true });
    } finally {
      logs?.stop();
    }
  }, 60_000);

  return {
    client,
    get work() {
      return started(work, 'the work directory');
    },
    get dataDir() {
      return started(dataDir, 'the data directory');
    },
    get local() {
      return started(local, 'local mode');
    },
    get server() {
      return started(server, 'the authorization server');
    },
    get logs() {
      return started(logs, 'the log capture (captureLogs)');
    },
    stopLocal: () => started(local, 'local mode').close(),
    startLocal,
  };
}
