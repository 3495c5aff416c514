/**
 * Metrics (lifecycle issue, "Signals"): refreshes by outcome and trigger, tokens served and their seconds
 * to expiry, as CloudWatch Embedded Metric Format log lines (Powertools Metrics): no API call, no latency.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export interface BrokerMetrics {
  refresh(outcome: string, trigger: string, reason?: string): void;
  tokenServed(secondsToExpiry: number, source: 'cache' | 'store' | 'refresh'): void;
  /** Writes what is buffered. */
  flush(): void;
}

export const noMetrics: BrokerMetrics = {
  refresh() {},
  tokenServed() {},
  flush() {},
};

/** Buffered token metrics are written at most this long after they were taken. */
const FLUSH_INTERVAL_MS = 60_000;

export class PowertoolsMetrics implements BrokerMetrics {
  readonly #metrics: Metrics;
  #lastFlush: number;

  constructor(
    options: { namespace?: string; serviceName?: string } = {},
    private readonly now: () => number = Date.now,
  ) {
    this.#metrics = new Metrics({
      namespace: options.namespace ?? process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'OAuthBroker',
      serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'oauth-broker',
    });
    this.#lastFlush = now();
  }

  /** Refreshes are rare: each one is written at once, with its own dimensions. */
  refresh(outcome: string, trigger: string, reason?: string): void {
    const single = this.#metrics.singleMetric();
    single.addDimensions({ outcome, trigger, ...(reason ? { reason } : {}) });
    single.addMetric('Refreshes', MetricUnit.Count, 1);
  }

  /** Tokens are served often: buffered (Powertools writes every 100 values) and flushed every minute. */
  tokenServed(secondsToExpiry: number, source: 'cache' | 'store' | 'refresh'): void {
    this.#metrics.addMetric('TokensServed', MetricUnit.Count, 1);
    this.#metrics.addMetric('TokenSecondsToExpiry', MetricUnit.Seconds, secondsToExpiry);
    if (source !== 'cache') this.#metrics.addMetric('TokenCacheMisses', MetricUnit.Count, 1);
    if (this.now() - this.#lastFlush >= FLUSH_INTERVAL_MS) this.flush();
  }

  flush(): void {
    this.#lastFlush = this.now();
    if (this.#metrics.hasStoredMetrics()) this.#metrics.publishStoredMetrics();
  }
}
