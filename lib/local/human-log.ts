/**
 * The broker's log lines for a person at a terminal (local mode's default; docs/local-mode.md "Logs"):
 * one line per entry, `14:02:11 WARN  code exchange failed  profileId=erp reason=invalid_client`, in place
 * of the JSON lines the cloud writes for CloudWatch. The same entries, the same redaction (the callers pass
 * only safe fields): only the layout differs.
 */
import type { Log } from '../logger.js';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class HumanLog implements Log {
  readonly #write: (line: string) => void;
  readonly #threshold: number;
  readonly #clock: () => number;

  constructor(options: { write: (line: string) => void; level?: LogLevel; clock?: () => number }) {
    this.#write = options.write;
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? 'WARN');
    this.#clock = options.clock ?? Date.now;
  }

  debug(message: unknown, ...extra: unknown[]): void {
    this.#log('DEBUG', message, extra);
  }

  info(message: unknown, ...extra: unknown[]): void {
    this.#log('INFO', message, extra);
  }

  warn(message: unknown, ...extra: unknown[]): void {
    this.#log('WARN', message, extra);
  }

  error(message: unknown, ...extra: unknown[]): void {
    this.#log('ERROR', message, extra);
  }

  #log(level: LogLevel, message: unknown, extra: unknown[]): void {
    if (LOG_LEVELS.indexOf(level) < this.#threshold) return;
    const fields: Record<string, unknown> = {};
    let text: string;
    if (message !== null && typeof message === 'object') {
      const { message: inner, ...rest } = message as Record<string, unknown>;
      text = String(inner ?? '');
      Object.assign(fields, rest);
    } else {
      text = String(message);
    }
    for (const item of extra) {
      if (item instanceof Error) fields.errorName = item.name;
      else if (item !== null && typeof item === 'object') Object.assign(fields, item);
      else if (item !== undefined) fields.detail = item;
    }
    const time = new Date(this.#clock()).toTimeString().slice(0, 8);
    const pairs = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${formatValue(value)}`)
      .join(' ');
    this.#write(`${time} ${level.padEnd(5)} ${text}${pairs ? `  ${pairs}` : ''}`);
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}

/** `BROKER_LOG_LEVEL`, else Powertools' `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL`, else `fallback`. */
export function logLevelFrom(env: Record<string, string | undefined>, fallback: LogLevel): LogLevel | undefined {
  const raw = (env.BROKER_LOG_LEVEL || env.POWERTOOLS_LOG_LEVEL || env.LOG_LEVEL || fallback).toUpperCase();
  return (LOG_LEVELS as readonly string[]).includes(raw) ? (raw as LogLevel) : undefined;
}
