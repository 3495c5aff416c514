/**
 * Command-line parsing with `node:util` `parseArgs`: one pass over all options (so that global options
 * may stand anywhere), then a check that each option given belongs to the command.
 */
import { parseArgs } from 'node:util';
import { PROFILE_ID_PATTERN } from '../profile.js';
import { didYouMean, withSuggestion } from './suggest.js';

/** A mistake in how the CLI was called: exit code 2, with the command's usage line. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help to point at (`profiles put`, `token`, …), if known. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export const COMMAND_OPTIONS = {
  file: { type: 'string', short: 'f' },
  open: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  'min-validity': { type: 'string' },
  role: { type: 'string' },
  'api-arn': { type: 'string' },
  alg: { type: 'string' },
  'key-arn': { type: 'string' },
  grace: { type: 'string' },
  kid: { type: 'string' },
  certificate: { type: 'boolean' },
  stack: { type: 'string' },
  port: { type: 'string' },
} as const;

type CommandOption = keyof typeof COMMAND_OPTIONS;

/** Which command options each command takes (global options are taken by all). */
export const OPTIONS_OF: Record<string, readonly CommandOption[]> = {
  'profiles list': [],
  'profiles get': [],
  'profiles put': ['file'],
  'profiles delete': [],
  status: [],
  authorize: ['open', 'wait', 'timeout'],
  token: ['min-validity'],
  refresh: [],
  policy: ['role', 'api-arn'],
  keys: ['alg', 'key-arn', 'grace', 'kid', 'certificate'],
  doctor: ['stack'],
  console: ['port', 'open'],
};

export const COMMANDS = Object.keys(OPTIONS_OF);

/** The words that may follow `oauth-broker`, for "did you mean". */
export function topLevelCommands(): string[] {
  return [...new Set([...Object.keys(OPTIONS_OF).map((command) => command.split(' ')[0] as string), 'help'])];
}

/** The subcommands of `profiles`. */
export function profilesSubcommands(): string[] {
  return Object.keys(OPTIONS_OF).flatMap((command) => (command.startsWith('profiles ') ? [command.slice('profiles '.length)] : []));
}

export interface ParsedArgs {
  /** `profiles put`, `token`, …; `undefined` when none was given; may be unknown (checked by the caller). */
  command: string | undefined;
  /** Positionals after the command. */
  operands: string[];
  global: {
    url: string | undefined;
    region: string | undefined;
    json: boolean;
    debug: boolean;
    help: boolean;
    version: boolean;
  };
  options: {
    file?: string;
    open?: boolean;
    wait?: boolean;
    timeout?: string;
    'min-validity'?: string;
    role?: string;
    'api-arn'?: string;
    alg?: string;
    'key-arn'?: string;
    grace?: string;
    kid?: string;
    certificate?: boolean;
    stack?: string;
    port?: string;
  };
}

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS },
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error, argv), guessCommand(argv));
  }
  const { values, positionals, tokens } = parsed;
  let command: string | undefined;
  let operands: string[];
  if (positionals[0] === 'profiles' || positionals[0] === 'profile') {
    command = positionals[1] === undefined ? 'profiles' : `profiles ${positionals[1]}`;
    operands = positionals.slice(2);
  } else if (positionals[0] === 'help') {
    // `oauth-broker help [command…]` is `--help` for that command.
    const rest = positionals.slice(1);
    command = rest[0] === 'profiles' || rest[0] === 'profile' ? (rest[1] ? `profiles ${rest[1]}` : 'profiles') : rest[0];
    operands = [];
    values.help = true;
  } else {
    command = positionals[0];
    operands = positionals.slice(1);
  }

  const given = new Set(tokens.flatMap((token) => (token.kind === 'option' ? [token.name] : [])));
  if (command && command in OPTIONS_OF && !values.help) {
    const allowed = new Set<string>([...Object.keys(GLOBAL_OPTIONS), ...(OPTIONS_OF[command] ?? [])]);
    for (const name of given) {
      if (!allowed.has(name)) {
        const near = didYouMean(name, OPTIONS_OF[command] ?? [], (option) => `--${option}`);
        throw new UsageError(withSuggestion(`option --${name} does not apply to "${command}"`, near), command);
      }
    }
  }

  const { url, region, json, debug, help, version, ...options } = values;
  return {
    command,
    operands,
    global: {
      url,
      region,
      json: json ?? false,
      debug: debug ?? false,
      help: help ?? false,
      version: version ?? false,
    },
    options,
  };
}

function describeParseError(error: unknown, argv: readonly string[]): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = /Unknown option '([^']+)'/.exec(message)?.[1];
    return withSuggestion(`unknown option ${name ?? message}`, name ? suggestOption(name, argv) : '');
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /Option '([^']+)'/.exec(message)?.[1];
    if (/argument missing/.test(message)) return `option ${name ?? ''} needs a value`.replace('  ', ' ');
    if (/ambiguous/.test(message)) return `option ${name ?? ''} needs a value; a value starting with "-" must be written --option=<value>`;
    if (/does not take an argument/.test(message)) return `option ${name ?? ''} takes no value`;
  }
  return message.split('\n')[0] ?? message;
}

/**
 * The known command among `argv`'s words, when the options could not be parsed: the first words that are
 * not options (an option's value may be taken for a word; then no command is found, which is harmless).
 */
function guessCommand(argv: readonly string[]): string | undefined {
  const words = argv.filter((arg) => !arg.startsWith('-'));
  const command = words[0] === 'profiles' || words[0] === 'profile' ? `profiles ${words[1] ?? ''}` : words[0];
  return command !== undefined && command in OPTIONS_OF ? command : undefined;
}

/** " Did you mean --timeout?" for `--tiemout`: among the options of the command given, else all of them. */
function suggestOption(name: string, argv: readonly string[]): string {
  const bare = name.replace(/^-+/, '');
  const command = guessCommand(argv);
  const own = command !== undefined ? (OPTIONS_OF[command] ?? []) : Object.keys(COMMAND_OPTIONS);
  return didYouMean(bare, [...own, ...Object.keys(GLOBAL_OPTIONS)], (option) => `--${option}`);
}

/** Exactly `count` operands, named for the error message (`<id>`). */
export function operandsOf(parsed: ParsedArgs, names: readonly string[]): string[] {
  const command = parsed.command ?? '';
  if (parsed.operands.length < names.length) {
    throw new UsageError(`"${command}" needs ${names.slice(parsed.operands.length).join(' ')}`, command);
  }
  if (parsed.operands.length > names.length) {
    throw new UsageError(`unexpected argument "${parsed.operands[names.length]}" for "${command}"`, command);
  }
  return parsed.operands;
}

export function profileIdOperand(parsed: ParsedArgs): string {
  const [id] = operandsOf(parsed, ['<id>']);
  return checkProfileId(id as string, parsed.command);
}

export function checkProfileId(id: string, command?: string): string {
  if (!PROFILE_ID_PATTERN.test(id)) {
    throw new UsageError(
      `"${id}" is not a profile id: use 1 to 64 characters a-z, 0-9, "_" or "-", starting with a letter or digit`,
      command,
    );
  }
  return id;
}

/** An integer option within `min..max`; `undefined` when not given. */
export function integerOption(value: string | undefined, name: string, min: number, max: number, command: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`, command);
  }
  return Number(value);
}

/** A positive number of seconds (fractions allowed); `undefined` when not given. */
export function secondsOption(value: string | undefined, name: string, command: string): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--${name} must be a positive number of seconds, not "${value}"`, command);
  }
  return seconds;
}
