/**
 * `npm start`: the broker in local mode (API.md "Local mode"; docs/local-mode.md). Settings come from the
 * environment: BROKER_PORT, BROKER_DATA_DIR, BROKER_REFRESH_INTERVAL_SECONDS, BROKER_DEMO, BROKER_DEMO_PORT.
 *
 * Exit codes: 0 after a clean stop (Ctrl-C / SIGTERM), 1 when it cannot start (port taken, data directory
 * in use, unreadable vault…), 2 for bad settings.
 */
import path from 'node:path';
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
    );
  }
  lines.push('', 'Press Ctrl-C to stop.');
  return lines;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof readLocalOptions>;
  try {
    options = readLocalOptions(process.env);
  } catch (error) {
    if (error instanceof LocalConfigurationError) {
      fail(`oauth-broker: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }

  // Signals are handled from the start: a Ctrl-C during start-up waits for it, then stops cleanly.
  const starting = startLocalBroker({ ...options, logger: createLocalLogger(process.env), print });
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
