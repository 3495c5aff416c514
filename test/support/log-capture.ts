/**
 * Captures everything the process writes while a test runs: `process.stdout.write`,
 * `process.stderr.write` (where the Powertools Logger's own `Console` writes) and every `console.*`
 * method (where libraries and a `POWERTOOLS_DEV` logger write). Patched by hand, not with `vi.spyOn`,
 * so that vitest's `restoreMocks` cannot undo it in the middle of a test.
 *
 * By default the captured output is NOT passed on (the broker's JSON log lines would flood the test
 * report); set `BROKER_TEST_LOGS=1` to see it as well.
 */
import { format } from 'node:util';

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const;

export interface LogCapture {
  /** Everything captured so far, in order. */
  text(): string;
  /** The captured lines that parse as JSON objects (structured log entries). */
  entries(): Array<Record<string, unknown>>;
  /** Puts the original writers back (idempotent). */
  stop(): void;
}

export function captureLogs(options: { forward?: boolean } = {}): LogCapture {
  const forward = options.forward ?? process.env.BROKER_TEST_LOGS === '1';
  const chunks: string[] = [];
  const restorers: Array<() => void> = [];

  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    const patched = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      if (forward) return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
      const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
      if (callback) queueMicrotask(callback);
      return true;
    };
    stream.write = patched as typeof stream.write;
    restorers.push(() => {
      stream.write = original;
    });
  }

  const target = console as unknown as Record<string, (...args: unknown[]) => void>;
  for (const method of CONSOLE_METHODS) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    target[method] = (...args: unknown[]): void => {
      chunks.push(`${format(...args)}\n`);
      if (forward) original.apply(console, args);
    };
    restorers.push(() => {
      target[method] = original;
    });
  }

  let stopped = false;
  return {
    text: () => chunks.join(''),
    entries: () =>
      chunks
        .join('')
        .split('\n')
        .flatMap((line) => {
          try {
            const parsed: unknown = JSON.parse(line);
            return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? [parsed as Record<string, unknown>] : [];
          } catch {
            return [];
          }
        }),
    stop() {
      if (stopped) return;
      stopped = true;
      for (const restore of restorers.reverse()) restore();
    },
  };
}
