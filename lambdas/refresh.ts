/**
 * The scheduled refresh job (EventBridge schedule): refreshes the profiles that are due and returns a
 * summary counted by outcome. At-least-once delivery is fine: a duplicate or late run finds nothing due.
 */
import type { ScheduledEvent } from 'aws-lambda';
import type { Broker, RefreshRunSummary } from '../lib/broker.js';
import { brokerFromEnvironment, sharedLogger } from '../lib/composition.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

/** Kept after the last refresh for flushing metrics and returning; each refresh keeps its own budget. */
const SAFETY_MARGIN_MS = 2_000;

export function createHandler(broker: () => Broker, logger: Log = sharedLogger()) {
  return async (_event: ScheduledEvent | Record<string, unknown>, context?: HandlerContext): Promise<RefreshRunSummary> => {
    logInvocation(logger, { context });
    const remaining = context?.getRemainingTimeInMillis?.();
    const remainingMs = remaining !== undefined ? remaining - SAFETY_MARGIN_MS : undefined;
    const configured = Number(process.env.BROKER_REFRESH_CONCURRENCY);
    const concurrency = Number.isInteger(configured) && configured > 0 ? configured : 8;
    const summary = await broker().runScheduledRefresh({ concurrency, ...(remainingMs !== undefined ? { remainingMs } : {}) });
    broker().flushMetrics();
    logger.debug('refresh run finished', { ...summary });
    return summary;
  };
}

export const handler = createHandler(brokerFromEnvironment);
