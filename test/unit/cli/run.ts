/**
 * Runs the CLI's `main` in-process with captured output.
 */
import { Readable } from 'node:stream';
import { main, type CliIo } from '../../../lib/cli/main.js';
import { NOW } from './fake-admin-broker.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends Partial<CliIo> {
  /** The broker URL, given as BROKER_URL. */
  url?: string;
  /** Text for stdin. */
  input?: string;
}

/**
 * The CLI's time, simulated: waiting advances the clock (from NOW) instead of passing real time, polling
 * every `pollIntervalMs`. Spread into the run's options.
 */
export function fakeTime(pollIntervalMs = 500): Pick<CliIo, 'clock' | 'sleep' | 'pollIntervalMs'> {
  let now = NOW;
  return {
    clock: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    pollIntervalMs,
  };
}

export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const { url, input, env, ...io } = options;
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from(input === undefined ? [] : [input]),
    env: { ...(url ? { BROKER_URL: url } : {}), ...env },
    isTTY: false,
    openUrl: () => false,
    clock: () => NOW,
    pollIntervalMs: 5,
    ...io,
  });
  return { code, stdout, stderr };
}
