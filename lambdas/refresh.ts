/**
 * The scheduled refresh job (EventBridge schedule): refreshes the profiles that are due and returns a
 * summary counted by outcome. At-least-once delivery is fine: a duplicate or late run finds nothing due.
 * `BROKER_REFRESH_CONCURRENCY` (default 8) workers; `BROKER_REFRESH_WRITES_PER_SECOND` (default 10) caps
 * the token-set writes the run makes, its share of Secrets Manager's account-wide write rate.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { refreshJobUseCases, type RefreshJobUseCases, type RefreshRunSummary } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';
import { DEFAULT_WRITES_PER_SECOND } from '../lib/write-budget.js';

/** Kept after the last refresh for flushing metrics and returning; each refresh keeps its own budget. */
const SAFETY_MARGIN_MS = 2_000;

export function createHandler(broker: () => RefreshJobUseCases, logger: Log = sharedLogger()) {
  return async (_event: ScheduledEvent | Record<string, unknown>, context?: HandlerContext): Promise<RefreshRunSummary> => {
    logInvocation(logger, { context });
    const remaining = context?.getRemainingTimeInMillis?.();
    const remainingMs = remaining !== undefined ? remaining - SAFETY_MARGIN_MS : undefined;
    const summary = await broker().runScheduledRefresh({
      concurrency: positiveSetting('BROKER_REFRESH_CONCURRENCY', 8, Number.isInteger),
      writesPerSecond: positiveSetting('BROKER_REFRESH_WRITES_PER_SECOND', DEFAULT_WRITES_PER_SECOND),
      ...(remainingMs !== undefined ? { remainingMs } : {}),
    });
    broker().flushMetrics();
    logger.debug('refresh run finished', { ...summary });
    return summary;
  };
}

/** A positive number from the environment, else the default (a bad value must not stop the job). */
function positiveSetting(name: string, fallback: number, valid: (value: number) => boolean = Number.isFinite): number {
  const configured = Number(process.env[name]);
  return valid(configured) && configured > 0 ? configured : fallback;
}

export const handler = createHandler(fromEnvironment(refreshJobUseCases));
