/**
 * The admin CLI `oauth-broker` (bin/oauth-broker.js runs {@link main}). Testable in-process: every
 * outside effect (output, environment, fetch, terminal, browser, time) comes in through {@link CliIo}.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerApiError } from '../sdk/errors.js';
import { isLoopbackUrl } from '../sdk/signing.js';
import { AdminClient } from './admin.js';
import { UsageError, parseCommandLine, profilesSubcommands, topLevelCommands, type ParsedArgs } from './args.js';
import {
  COMMAND_HANDLERS,
  CommandFailure,
  EXIT_FAILURE,
  EXIT_NOT_READY,
  EXIT_OK,
  EXIT_USAGE,
  type Context,
} from './commands.js';
import { DEFAULT_URL, TOP_HELP, helpFor, usageLine } from './help.js';
import { defaultIo, type CliIo } from './io.js';
import { didYouMean, withSuggestion } from './suggest.js';

export type { CliIo } from './io.js';
export { EXIT_FAILURE, EXIT_NOT_READY, EXIT_OK, EXIT_USAGE } from './commands.js';

/**
 * Runs the CLI with `argv` (without the node and script paths) and answers the exit code:
 * 0 ok, 1 failure, 2 usage error, 3 not ready.
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * const code = await main(['status', '--json'], { stdout: { write: (s: string) => out.push(s) }, env: { BROKER_URL: url } });
 * ```
 */
export async function main(argv: readonly string[], overrides: Partial<CliIo> = {}): Promise<number> {
  const io = defaultIo(overrides);
  let parsed: ParsedArgs | undefined;
  const json = argv.includes('--json');
  const debug = argv.includes('--debug');
  try {
    parsed = parseCommandLine(argv);
    const { command, global } = parsed;
    if (global.version) {
      io.stdout.write(`${json ? JSON.stringify({ version: version() }) : version()}\n`);
      return EXIT_OK;
    }
    if (global.help) {
      const text = helpFor(command);
      if (text === undefined) throw unknownCommand(command as string);
      io.stdout.write(text);
      return EXIT_OK;
    }
    if (command === undefined) {
      io.stderr.write(TOP_HELP);
      return EXIT_USAGE;
    }
    if (command === 'profiles') throw new UsageError('"profiles" needs a subcommand: list, get, put or delete', 'profiles');
    const handler = COMMAND_HANDLERS[command];
    if (!handler) throw unknownCommand(command);
    const url = brokerUrl(global.url, io.env);
    let client: AdminClient | undefined;
    const context: Context = {
      io,
      args: parsed,
      json: global.json,
      url,
      client: () =>
        (client ??= new AdminClient({
          baseUrl: url,
          env: io.env,
          ...(global.region ? { region: global.region } : {}),
          ...(io.credentials ? { credentials: io.credentials } : {}),
          ...(io.fetch ? { fetch: io.fetch } : {}),
        })),
    };
    return await handler(context);
  } catch (error) {
    return report(io, error, { json: parsed?.global.json ?? json, debug: parsed?.global.debug ?? debug, parsed });
  }
}

function unknownCommand(command: string): UsageError {
  if (command.startsWith('profiles ')) {
    const sub = command.slice('profiles '.length);
    const near = didYouMean(sub, profilesSubcommands(), (name) => `"profiles ${name}"`);
    return new UsageError(withSuggestion(`unknown subcommand "${command}": use profiles list, get, put or delete`, near), 'profiles');
  }
  return new UsageError(withSuggestion(`unknown command "${command}"`, didYouMean(command, topLevelCommands())));
}

function brokerUrl(option: string | undefined, env: Record<string, string | undefined>): URL {
  const value = option ?? (env.BROKER_URL || DEFAULT_URL);
  const from = option !== undefined ? '--url' : env.BROKER_URL ? 'BROKER_URL' : 'the default URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${from} is not an absolute URL: "${value}"`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new UsageError(`${from} must be an https: URL (http: only for a broker on loopback, such as ${DEFAULT_URL}): "${value}"`);
  }
  return url;
}

/** Prints the error (the contract's message, never a stack unless --debug) and answers the exit code. */
function report(io: CliIo, error: unknown, options: { json: boolean; debug: boolean; parsed: ParsedArgs | undefined }): number {
  const { json, debug, parsed } = options;
  let exitCode = EXIT_FAILURE;
  let code = 'error';
  let message = error instanceof Error ? error.message : String(error);
  const hints: string[] = [];
  const extra: Record<string, unknown> = {};

  if (error instanceof UsageError) {
    exitCode = EXIT_USAGE;
    code = 'usage';
    const command = error.command;
    hints.push(usageLine(command));
    hints.push(`Run "oauth-broker ${command ? `${command} ` : ''}--help" for details.`);
  } else if (error instanceof CommandFailure) {
    exitCode = error.exitCode;
    code = error.code;
  } else if (error instanceof BrokerApiError) {
    code = error.code;
    extra.status = error.status;
    if (error.retryAfterSeconds !== undefined) extra.retryAfterSeconds = error.retryAfterSeconds;
    exitCode = error.code === 'authorization_required' ? EXIT_NOT_READY : EXIT_FAILURE;
    const id = parsed?.operands[0];
    const url = parsed ? safeUrl(parsed.global.url, io.env) : undefined;
    if (error.code === 'authorization_required' && id) hints.push(`Authorize it with: oauth-broker authorize ${id} --open --wait`);
    if (error.retryAfterSeconds !== undefined) hints.push(`Retry after ${error.retryAfterSeconds}s.`);
    if (error.code === 'network_error' && url && isLoopbackUrl(url)) {
      hints.push('Is the local broker running? Start it with: npm start (or pass --url / set BROKER_URL).');
    }
    if ((error.status === 403 || error.status === 401) && url && !isLoopbackUrl(url)) {
      hints.push(
        'API Gateway refused the signed request: check the AWS credentials and region (--region), and that the identity may call execute-api:Invoke on this route.',
      );
    }
  }

  if (json) {
    io.stderr.write(`${JSON.stringify({ error: code, message, ...extra })}\n`);
  } else {
    if (error instanceof BrokerApiError && error.code !== 'network_error' && !message.endsWith('.')) message += '.';
    io.stderr.write(`oauth-broker: ${message}\n`);
    for (const line of hints) io.stderr.write(`${line}\n`);
  }
  if (debug && error instanceof Error && error.stack) {
    io.stderr.write(`${error.stack}\n`);
    if (error.cause instanceof Error && error.cause.stack) io.stderr.write(`Caused by: ${error.cause.stack}\n`);
  }
  return exitCode;
}

function safeUrl(option: string | undefined, env: Record<string, string | undefined>): URL | undefined {
  try {
    return brokerUrl(option, env);
  } catch {
    return undefined;
  }
}

let cachedVersion: string | undefined;

/** The package version, from the package.json above this file. */
export function version(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'oauth-broker' && pkg.version) return (cachedVersion = pkg.version);
      } catch {
        // not ours; keep looking
      }
    }
    dir = dirname(dir);
  }
  return (cachedVersion = 'unknown');
}
