/**
 * `npm start`: the broker in local mode (docs/api.md "Local mode"; docs/local-mode.md). Settings come from
 * the environment: BROKER_PORT, BROKER_DATA_DIR, BROKER_REFRESH_INTERVAL_SECONDS, BROKER_DEMO,
 * BROKER_DEMO_PORT, BROKER_LOG_FORMAT (human | json), BROKER_LOG_LEVEL; `npm start -- --verbose` logs
 * from INFO up. Log lines go to stderr, the banner and status lines to stdout.
 *
 * Exit codes: 0 after a clean stop (Ctrl-C / SIGTERM), 1 when it cannot start (port taken, data directory
 * in use, unreadable vault…), 2 for bad settings.
 */
import path from 'node:path';
import type { Log } from '../logger.js';
import { OWN_PROFILE_CLIENT } from './demo-authorization-server.js';
import { HumanLog, logLevelFrom } from './human-log.js';
import { createLocalLogger, LocalConfigurationError, LocalStartupError, readLocalOptions, startLocalBroker, type LocalBroker } from './local-broker.js';

// The AWS SDK warns on every start that its 2027 releases will need Node 22. That is about upgrades of the
// SDK, not about running local mode; the warning would be the first thing a newcomer reads.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const print = (line: string) => process.stdout.write(`${line}\n`);
const fail = (line: string) => process.stderr.write(`${line}\n`);

function banner(local: LocalBroker): string[] {
  const relativeData = path.relative(process.cwd(), local.dataDir);
  const dataDir = relativeData && !relativeData.startsWith('..') ? relativeData : local.dataDir;
  const lines = [
    `oauth-broker (local mode) listening on ${local.url}`,
    `  console        ${local.url}/console   (profiles, Authorize, ✓ when a token is ready)`,
    `  callback URL   ${local.callbackUrl}   (register it at your authorization servers)`,
    `  data           ${dataDir}   (profiles, status, encrypted vault; survives restarts)`,
    `  refresh job    every ${local.refreshIntervalSeconds} s`,
  ];
  if (local.demo) {
    const id = local.demo.profileId;
    lines.push(
      '',
      `Demo authorization server on ${local.demo.issuer} (any login and password; it keeps nothing across restarts,`,
      `so the "${id}" profile is registered afresh and needs authorizing on every start). To authorize it, open`,
      `${local.url}/console and press Authorize, or run:`,
      '',
      `  npx oauth-broker authorize ${id} --open --wait`,
      '',
      'or open the authorizationUrl printed by:',
      '',
      `  curl -s ${local.url}/profiles/${id}/authorize-url`,
      '',
      'then fetch its token:',
      '',
      `  curl -s ${local.url}/profiles/${id}/token`,
      '',
      `For your own profiles the demo server also knows a client with fixed credentials (local mode only):`,
      `  issuer ${local.demo.issuer}   client id ${OWN_PROFILE_CLIENT.clientId}   client secret ${OWN_PROFILE_CLIENT.clientSecret}`,
      '  (docs/local-mode.md, "Your own profile").',
    );
  }
  lines.push('', 'Press Ctrl-C to stop.');
  return lines;
}

/** The broker's logger: human lines on stderr by default, Powertools' JSON lines with BROKER_LOG_FORMAT=json. */
function loggerFrom(env: NodeJS.ProcessEnv, argv: readonly string[]): Log {
  for (const arg of argv) {
    if (arg !== '--verbose') throw new LocalConfigurationError(`unknown argument "${arg}": npm start takes only --verbose (npm start -- --verbose).`);
  }
  const configured = logLevelFrom(env, 'WARN');
  if (!configured) throw new LocalConfigurationError('BROKER_LOG_LEVEL (or LOG_LEVEL) must be DEBUG, INFO, WARN or ERROR.');
  // --verbose shows at least INFO, whatever the environment says.
  const level = argv.includes('--verbose') && configured !== 'DEBUG' ? 'INFO' : configured;
  const format = (env.BROKER_LOG_FORMAT || 'human').toLowerCase();
  if (format === 'json') return createLocalLogger({ ...env, POWERTOOLS_LOG_LEVEL: level });
  if (format !== 'human') throw new LocalConfigurationError(`BROKER_LOG_FORMAT must be human or json; got "${env.BROKER_LOG_FORMAT}".`);
  return new HumanLog({ write: fail, level });
}

async function main(): Promise<void> {
  let options: ReturnType<typeof readLocalOptions>;
  let logger: Log;
  try {
    options = readLocalOptions(process.env);
    logger = loggerFrom(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof LocalConfigurationError) {
      fail(`oauth-broker: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }

  // Signals are handled from the start: a Ctrl-C during start-up waits for it, then stops cleanly.
  const starting = startLocalBroker({ ...options, logger, print });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      fail(`oauth-broker: ${signal} again, stopping without waiting.`);
      process.exit(130);
    }
    stopping = true;
    print(`\nStopping (${signal}): finishing requests and refreshes in progress…`);
    starting
      .then((local) => local.close())
      .then(
        () => {
          print('Stopped.');
          process.exit(0);
        },
        (error: unknown) => {
          // A start-up failure is reported below.
          if (error instanceof LocalStartupError) return;
          fail(`oauth-broker: stopping failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  let local: LocalBroker;
  try {
    local = await starting;
  } catch (error) {
    if (error instanceof LocalStartupError) {
      fail(`oauth-broker: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  if (!stopping) for (const line of banner(local)) print(line);
}

main().catch((error: unknown) => {
  fail(`oauth-broker: local mode failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
