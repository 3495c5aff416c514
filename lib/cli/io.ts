/**
 * Everything the CLI touches outside itself, injectable so that tests drive `main()` in-process.
 */
import { readFile } from 'node:fs/promises';
import type { AwsCredentials, AwsCredentialsProvider } from '../sdk/signing.js';
import type { FetchLike } from '../sdk/transport.js';
import { openInBrowser } from './browser.js';

export interface Output {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  /** Read by `profiles put --file -`. */
  stdin: AsyncIterable<string | Uint8Array>;
  env: Record<string, string | undefined>;
  /** The `fetch` for the broker. Default: `globalThis.fetch`. */
  fetch: FetchLike | undefined;
  /** Whether stderr is a terminal: the `--wait` spinner is drawn only then. */
  isTTY: boolean;
  /**
   * Opens a URL in the system browser. Answers `true` when it did; rejects with the reason (or answers
   * `false`) when no browser could be opened.
   */
  openUrl: (url: string) => Promise<boolean> | boolean;
  /** AWS credentials for SigV4. Default: the AWS SDK's default credential chain. */
  credentials: AwsCredentials | AwsCredentialsProvider | undefined;
  readFile: (path: string) => Promise<string>;
  /** How often `authorize --wait` polls the profile. */
  pollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch. */
  clock: () => number;
  /** Resolves when a long-running command (`console`) should stop. Default: on Ctrl-C or SIGTERM. */
  untilStopped: () => Promise<void>;
}

export function defaultIo(overrides: Partial<CliIo> = {}): CliIo {
  const env = overrides.env ?? process.env;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env,
    fetch: undefined,
    isTTY: Boolean(process.stderr.isTTY),
    openUrl: async (url) => {
      const outcome = await openInBrowser(url, { env });
      if (!outcome.opened) throw new Error(outcome.reason);
      return true;
    },
    credentials: undefined,
    readFile: (path) => readFile(path, 'utf8'),
    pollIntervalMs: 2000,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    clock: Date.now,
    untilStopped: () => new Promise((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }),
    ...overrides,
  };
}
