/**
 * What a command writes: lines and JSON on stdout (the result), hints for a person on stderr (never with
 * `--json`, whose stdout is for machines).
 */
import type { CliIo } from './io.js';

interface Writing {
  io: Pick<CliIo, 'stdout' | 'stderr'>;
  json: boolean;
}

export const line = (ctx: Writing, text = ''): void => void ctx.io.stdout.write(`${text}\n`);

export const printJson = (ctx: Writing, value: unknown): void => line(ctx, JSON.stringify(value, null, 2));

/** A hint for a person: on stderr, and not at all with --json. */
export const hint = (ctx: Writing, text: string): void => {
  if (!ctx.json) ctx.io.stderr.write(`${text}\n`);
};
