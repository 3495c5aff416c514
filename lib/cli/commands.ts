/**
 * The CLI's commands. Each answers its exit code; errors are thrown and reported by `main`.
 */
import type { LastError, ProfileView } from '../profile.js';
import { BrokerApiError } from '../sdk/errors.js';
import { isLoopbackUrl } from '../sdk/signing.js';
import type { AdminClient } from './admin.js';
import { isOpenableUrl } from './browser.js';
import {
  UsageError,
  checkProfileId,
  integerOption,
  operandsOf,
  profileIdOperand,
  secondsOption,
  type ParsedArgs,
} from './args.js';
import { mark, profileDetails, profilesTable, secondsToExpiry, statusTable, timeToExpiry } from './format.js';
import type { CliIo } from './io.js';
import { describeJsonSyntaxError } from './json-syntax.js';
import { apiArnFromUrl, parseApiArn, parseRoleArn, tokenPolicy } from './policy.js';
import { keys } from './keys.js';
import { hint, line, printJson } from './output.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_READY = 3;

export const DEFAULT_WAIT_TIMEOUT_SECONDS = 300;

/** A failure the command has described itself, with its exit code. */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** A machine-readable code for `--json` error output. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

export interface Context {
  io: CliIo;
  args: ParsedArgs;
  json: boolean;
  /** The broker's base URL (from --url, BROKER_URL or the default). */
  url: URL;
  /** The admin client, created on first use. */
  client(): AdminClient;
}

export type Command = (ctx: Context) => Promise<number>;

function statusEntry(view: ProfileView, now: number) {
  return {
    id: view.id,
    ready: view.status.state === 'ready',
    state: view.status.state,
    accessTokenExpiresAt: view.status.accessTokenExpiresAt,
    expiresInSeconds: secondsToExpiry(view.status, now),
    lastError: view.status.lastError,
  };
}

const NO_PROFILES = 'No profiles yet. Create one with: oauth-broker profiles put <id> --file profile.json';

// ---------------------------------------------------------------------------------------------------
// profiles
// ---------------------------------------------------------------------------------------------------

const profilesList: Command = async (ctx) => {
  operandsOf(ctx.args, []);
  const answer = await ctx.client().listProfiles();
  if (ctx.json) printJson(ctx, answer);
  else line(ctx, answer.profiles.length ? profilesTable(answer.profiles) : NO_PROFILES);
  return EXIT_OK;
};

const profilesGet: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const view = await ctx.client().getProfile(id);
  if (ctx.json) printJson(ctx, view);
  else line(ctx, profileDetails(view, ctx.io.clock()));
  return EXIT_OK;
};

async function readAll(stream: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

const profilesPut: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const file = ctx.args.options.file;
  if (file === undefined || file === '') throw new UsageError('"profiles put" needs --file <file> (or --file - to read stdin)', 'profiles put');
  const source = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await readAll(ctx.io.stdin) : await ctx.io.readFile(file);
  } catch (error) {
    throw new UsageError(describeReadError(source, error), 'profiles put');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Never JSON.parse's message: it can quote the text, and the file holds the client secret.
    throw new UsageError(`${source} is not valid JSON: ${describeJsonSyntaxError(text)}`, 'profiles put');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new UsageError(`${source} must hold a JSON object (the profile's fields)`, 'profiles put');
  }
  let answer: Awaited<ReturnType<AdminClient['putProfile']>>;
  try {
    answer = await ctx.client().putProfile(id, JSON.stringify(body));
  } catch (error) {
    // The broker refused what the file says: a usage error (exit 2), like a file that is not JSON.
    if (error instanceof BrokerApiError && error.status === 400) {
      throw new CommandFailure(`${source} is not a valid profile: ${error.message}`, EXIT_USAGE, error.code);
    }
    throw error;
  }
  const { created, view } = answer;
  if (ctx.json) {
    printJson(ctx, view);
    return EXIT_OK;
  }
  line(ctx, `${created ? 'Created' : 'Updated'} profile "${id}" (${view.grantType}, state ${view.status.state}).`);
  if (view.signingKey) {
    line(ctx, `Client assertions are signed with ${view.signingKey.alg} key ${view.signingKey.kid}: register ${view.signingKey.jwksUri}`);
    line(ctx, `  as the client's jwks_uri at the authorization server, or its certificate (oauth-broker keys ${id}).`);
  }
  if (view.grantType === 'authorization_code') {
    line(ctx, `Callback URL: ${view.callbackUrl}`);
    line(ctx, '  Register it at the authorization server as a redirect URI of the client.');
    if (view.status.state !== 'ready') line(ctx, `Next: oauth-broker authorize ${id} --open --wait`);
  } else {
    line(ctx, `Next: oauth-broker token ${id}`);
  }
  return EXIT_OK;
};

/** A sentence for a file that cannot be read, instead of a bare `ENOENT`. */
function describeReadError(source: string, error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'ENOENT':
      return `the profile file ${source} does not exist (relative paths start in ${process.cwd()})`;
    case 'EACCES':
    case 'EPERM':
      return `the profile file ${source} cannot be read: permission denied`;
    case 'EISDIR':
      return `${source} is a directory, not a profile file`;
    default:
      return `cannot read ${source} (${typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)})`;
  }
}

const profilesDelete: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  await ctx.client().deleteProfile(id);
  if (ctx.json) printJson(ctx, { id, deleted: true });
  else line(ctx, `Deleted profile "${id}".`);
  return EXIT_OK;
};

// ---------------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------------

const status: Command = async (ctx) => {
  const ids = ctx.args.operands.map((id) => checkProfileId(id, 'status'));
  const client = ctx.client();
  const profiles = ids.length ? await Promise.all(ids.map((id) => client.getProfile(id))) : (await client.listProfiles()).profiles;
  const now = ctx.io.clock();
  if (ctx.json) printJson(ctx, { profiles: profiles.map((view) => statusEntry(view, now)) });
  else line(ctx, profiles.length ? statusTable(profiles, now) : NO_PROFILES);
  return ids.length && profiles.some((view) => view.status.state !== 'ready') ? EXIT_NOT_READY : EXIT_OK;
};

// ---------------------------------------------------------------------------------------------------
// authorize
// ---------------------------------------------------------------------------------------------------

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface Progress {
  tick(): void;
  stop(): void;
}

/** A spinner on a terminal, dots otherwise, nothing with --json. On stderr. `stop` may be called again. */
function progress(ctx: Context, label: string): Progress {
  const inner = startProgress(ctx, label);
  let stopped = false;
  return {
    tick: () => {
      if (!stopped) inner.tick();
    },
    stop: () => {
      if (!stopped) inner.stop();
      stopped = true;
    },
  };
}

function startProgress(ctx: Context, label: string): Progress {
  const { io } = ctx;
  if (ctx.json) return { tick: () => undefined, stop: () => undefined };
  if (!io.isTTY) {
    io.stderr.write(`${label}…`);
    return { tick: () => io.stderr.write('.'), stop: () => io.stderr.write('\n') };
  }
  const started = io.clock();
  let frame = 0;
  const draw = () => {
    const elapsed = Math.floor((io.clock() - started) / 1000);
    io.stderr.write(`\r${SPINNER[frame++ % SPINNER.length]} ${label}… ${elapsed}s\u001b[K`);
  };
  draw();
  const timer = setInterval(draw, 100);
  timer.unref?.();
  return {
    tick: () => undefined,
    stop: () => {
      clearInterval(timer);
      io.stderr.write('\r\u001b[K');
    },
  };
}

/** Errors worth polling through: the broker restarting, a throttled or failing gateway. */
function isTransient(error: unknown): boolean {
  return error instanceof BrokerApiError && (error.status === 0 || error.status === 429 || error.status === 502 || error.status === 503 || error.status === 504);
}

const authorize: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const { open, wait } = ctx.args.options;
  const timeoutSeconds = secondsOption(ctx.args.options.timeout, 'timeout', 'authorize');
  if (timeoutSeconds !== undefined && !wait) throw new UsageError('--timeout applies only with --wait', 'authorize');
  const client = ctx.client();
  const waitStartedAt = ctx.io.clock();
  // The state before, so that --wait recognizes a new authorization of a profile that was ready already,
  // and an error recorded by this authorization's callback.
  const before = wait ? await client.getProfile(id) : undefined;
  const start = await client.authorizeUrl(id);
  if (!isOpenableUrl(start.authorizationUrl)) {
    throw new CommandFailure(
      `The broker answered an authorization URL with the scheme "${schemeOf(start.authorizationUrl)}", which the CLI neither opens nor prints: ` +
        `only https: URLs (http: on loopback) are. Check the profile's authorizationUrl and issuer: oauth-broker profiles get ${id}`,
      EXIT_FAILURE,
      'unsafe_url',
    );
  }

  if (ctx.json) {
    line(ctx, JSON.stringify(start));
  } else {
    const until = new Date(start.expiresAt);
    const validity = Number.isNaN(until.getTime()) ? '' : `, valid until ${until.toLocaleTimeString()}`;
    line(ctx, `Copy Authorization URL for "${id}" (single use${validity}):`);
    line(ctx, start.authorizationUrl);
    line(ctx);
    line(ctx, `After consent the authorization server redirects to the callback URL ${start.callbackUrl}`);
    line(ctx, '  (it must be registered there as a redirect URI of the client).');
  }

  // Over SSH, a browser on this machine is rarely what the person looks at.
  let needsTunnel = Boolean(ctx.io.env.SSH_CONNECTION || ctx.io.env.SSH_TTY);
  if (open) {
    let notOpened: string | undefined;
    try {
      if (!(await ctx.io.openUrl(start.authorizationUrl))) notOpened = 'no browser could be started';
    } catch (error) {
      notOpened = error instanceof Error ? error.message : String(error);
    }
    if (notOpened === undefined) {
      hint(ctx, 'Opened the authorization URL in the browser.');
    } else {
      hint(ctx, `Could not open a browser: ${notOpened}. Open the authorization URL above in a browser yourself.`);
      needsTunnel = true;
    }
  }
  const tunnel = needsTunnel ? tunnelHint(start.callbackUrl, start.authorizationUrl) : undefined;
  if (tunnel) hint(ctx, tunnel);
  if (!wait || !before) return EXIT_OK;

  const timeoutMs = (timeoutSeconds ?? DEFAULT_WAIT_TIMEOUT_SECONDS) * 1000;
  const deadline = ctx.io.clock() + timeoutMs;
  const wasReady = before.status.state === 'ready';
  const authorizedBefore = before.status.lastAuthorizedAt;
  let last: ProfileView = before;
  const spinner = progress(ctx, `Waiting for "${id}" to be authorized`);
  try {
    for (;;) {
      const remaining = deadline - ctx.io.clock();
      if (remaining <= 0) break;
      await ctx.io.sleep(Math.min(ctx.io.pollIntervalMs, remaining));
      try {
        last = await client.getProfile(id);
      } catch (error) {
        if (!isTransient(error)) throw error;
        continue;
      } finally {
        spinner.tick();
      }
      const { state, lastAuthorizedAt } = last.status;
      const failure = newError(before.status.lastError, last.status.lastError, waitStartedAt);
      if (failure && !(state === 'ready' && lastAuthorizedAt !== authorizedBefore)) {
        spinner.stop();
        throw new CommandFailure(
          `The authorization of "${id}" failed: ${failure.code}: ${failure.message}${failure.message.endsWith('.') ? '' : '.'} ` +
            `Fix the cause (oauth-broker profiles get ${id} shows the profile), then start again: oauth-broker authorize ${id} --open --wait`,
          EXIT_FAILURE,
          'authorization_failed',
        );
      }
      if (state === 'ready' && (!wasReady || lastAuthorizedAt !== authorizedBefore)) {
        spinner.stop();
        if (ctx.json) line(ctx, JSON.stringify(statusEntry(last, ctx.io.clock())));
        else line(ctx, `${mark(state)} "${id}" is ready: access token expires in ${timeToExpiry(last.status, ctx.io.clock())}.`);
        return EXIT_OK;
      }
      if (state === 'error') {
        spinner.stop();
        const why = last.status.lastError ? ` (${last.status.lastError.code}: ${last.status.lastError.message})` : '';
        throw new CommandFailure(`Profile "${id}" failed: the authorization server rejected the client${why}. Fix the profile with: oauth-broker profiles put ${id} --file <file>`, EXIT_FAILURE, 'profile_error');
      }
    }
  } finally {
    spinner.stop();
  }
  throw new CommandFailure(
    `Timed out after ${formatSeconds(timeoutMs / 1000)} waiting for "${id}" to be authorized (state: ${last.status.state}). ` +
      `Open the authorization URL and consent, or start again with: oauth-broker authorize ${id} --open --wait`,
    EXIT_NOT_READY,
    'timeout',
  );
};

/** How far the broker's clock may be behind this one for an error to count as this wait's. */
const CLOCK_SKEW_MS = 2 * 60_000;

/**
 * The profile's `status.lastError` when it appeared while waiting: not the one seen before the
 * authorization started, and recorded (`at`) after the wait started.
 */
function newError(before: LastError | null, now: LastError | null, startedAt: number): LastError | undefined {
  if (!now) return undefined;
  if (before && before.at === now.at && before.code === now.code) return undefined;
  const at = Date.parse(now.at);
  return Number.isNaN(at) || at < startedAt - CLOCK_SKEW_MS ? undefined : now;
}

function schemeOf(url: string): string {
  return /^([a-z][a-z0-9+.-]*:)/i.exec(url)?.[1]?.toLowerCase() ?? 'none';
}

/**
 * A callback URL on loopback is reached only by a browser on the broker's machine: from another machine,
 * through a tunnel to it (and to the authorization server too, when that is on loopback: the demo server).
 */
function tunnelHint(callbackUrl: string, authorizationUrl: string): string | undefined {
  const loopbackPort = (value: string): string | undefined => {
    try {
      const url = new URL(value);
      return isLoopbackUrl(url) ? url.port || (url.protocol === 'https:' ? '443' : '80') : undefined;
    } catch {
      return undefined;
    }
  };
  const callbackPort = loopbackPort(callbackUrl);
  if (callbackPort === undefined) return undefined;
  const ports = [...new Set([callbackPort, loopbackPort(authorizationUrl)].filter((port) => port !== undefined))];
  return (
    `The callback URL ${callbackUrl} is on loopback: the browser must run on this machine, or reach it through a tunnel. ` +
    `From your desktop: ssh ${ports.map((port) => `-L ${port}:127.0.0.1:${port}`).join(' ')} <user>@<this-host>, then open the URL in a browser there.`
  );
}

function formatSeconds(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${seconds.toFixed(2).replace(/0+$/, '')}s`;
}

// ---------------------------------------------------------------------------------------------------
// tokens
// ---------------------------------------------------------------------------------------------------

const token: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const minValidity = integerOption(ctx.args.options['min-validity'], 'min-validity', 0, 3600, 'token');
  const answer = await ctx.client().token(id, minValidity);
  if (ctx.json) printJson(ctx, answer);
  else ctx.io.stdout.write(`${answer.access_token}\n`);
  return EXIT_OK;
};

const refresh: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const view = await ctx.client().refresh(id);
  const { state, lastError } = view.status;
  if (ctx.json) {
    printJson(ctx, view);
  } else if (state === 'ready') {
    line(ctx, `${mark(state)} Refreshed "${id}": access token expires in ${timeToExpiry(view.status, ctx.io.clock())}.`);
  } else {
    line(ctx, `${mark(state)} "${id}" is ${state} after the refresh${lastError ? `: ${lastError.code}: ${lastError.message}` : '.'}`);
    if (state === 'authorization_required') hint(ctx, `Authorize it again with: oauth-broker authorize ${id} --open --wait`);
  }
  if (state === 'ready') return EXIT_OK;
  return state === 'authorization_required' ? EXIT_NOT_READY : EXIT_FAILURE;
};

// ---------------------------------------------------------------------------------------------------
// policy
// ---------------------------------------------------------------------------------------------------

const policy: Command = async (ctx) => {
  const id = profileIdOperand(ctx.args);
  const roleArn = ctx.args.options.role;
  if (!roleArn) throw new UsageError('"policy" needs --role <role-arn>, the IAM role of the consumer', 'policy');
  const role = parseRoleArn(roleArn);
  const apiArn = ctx.args.options['api-arn'];
  const api = apiArn ? parseApiArn(apiArn) : apiArnFromUrl(ctx.url, role);
  printJson(ctx, tokenPolicy(api, id));
  if (!apiArn) hint(ctx, `The API's account (${role.account}) is taken from the role ARN; pass --api-arn when the API lives in another account.`);
  hint(ctx, `Attach it to the role with: aws iam put-role-policy --role-name ${role.name} --policy-name oauth-broker-token-${id} --policy-document file://policy.json`);
  return EXIT_OK;
};

// ---------------------------------------------------------------------------------------------------
// doctor
// ---------------------------------------------------------------------------------------------------

const doctor: Command = async (ctx) => {
  const [env, ...rest] = ctx.args.operands;
  if (rest.length > 0) throw new UsageError(`"doctor" takes one environment name, not "${ctx.args.operands.join(' ')}"`, 'doctor');
  const stackName = ctx.args.options.stack ?? (env ? `OAuthBroker-${env}` : undefined);
  if (!stackName) throw new UsageError('"doctor" needs the environment (oauth-broker doctor prod) or --stack <name>', 'doctor');
  const region = ctx.args.global.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('"doctor" needs the stack\'s region: pass --region or set AWS_REGION', 'doctor');
  const { runDoctor, formatChecks } = await import('./doctor.js');
  const checks = await runDoctor({ stackName, region, credentials: ctx.io.credentials, fetch: ctx.io.fetch });
  if (ctx.json) printJson(ctx, { stack: stackName, region, ok: checks.every((c) => c.ok), checks });
  else ctx.io.stdout.write(formatChecks(checks));
  return checks.every((c) => c.ok) ? EXIT_OK : EXIT_FAILURE;
};

export const COMMAND_HANDLERS: Record<string, Command> = {
  'profiles list': profilesList,
  'profiles get': profilesGet,
  'profiles put': profilesPut,
  'profiles delete': profilesDelete,
  status,
  authorize,
  token,
  refresh,
  policy,
  keys,
  doctor,
  // Loaded when used: the console's server and assets are not needed by the other commands.
  console: async (ctx) => (await import('./console.js')).consoleCommand(ctx),
};

/** Commands that need no broker (no URL check beyond parsing, no request). */
export const OFFLINE_COMMANDS = new Set(['policy', 'doctor']);
