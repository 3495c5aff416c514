/**
 * Metrics: refreshes by outcome and trigger, tokens served and their seconds
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

/**
 * The values the `reason` dimension may take: every distinct value is a CloudWatch metric of its own (and
 * costs as one), and the server's error code is not ours to choose. The OAuth error codes of RFC 6749
 * §5.2, the two temporary ones the classifier knows (`temporarily_unavailable`, RFC 6749 §4.1.2.1;
 * `slow_down`, RFC 8628 §3.5) and the broker's own; anything else is `other`.
 */
export const METRIC_REASONS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'temporarily_unavailable',
  'slow_down',
  'network_error',
  'server_error',
  'invalid_response',
  'invalid_configuration',
  'no_refresh_token',
  'vault_write_failed',
  'client_secret_missing',
] as const;

export type MetricReason = (typeof METRIC_REASONS)[number] | 'other';

const KNOWN_REASONS: ReadonlySet<string> = new Set(METRIC_REASONS);

/** The `reason` dimension for a failure code: the code itself when it is on the allow-list, else `other`. */
export function metricReason(code: string): MetricReason {
  return KNOWN_REASONS.has(code) ? (code as MetricReason) : 'other';
}

/** Buffered token metrics are written at most this long after they were taken. */
const FLUSH_INTERVAL_MS = 60_000;

export class PowertoolsMetrics implements BrokerMetrics {
  readonly #metrics: Metrics;
  #lastFlush: number;
  /** Token metrics are counted in plain fields on the warm path and handed to Powertools on flush. */
  #served = 0;
  #misses = 0;
  #minSecondsToExpiry = Infinity;

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

  /** Refreshes are rare: each one is written at once, with its own dimensions (`reason` from `METRIC_REASONS`). */
  refresh(outcome: string, trigger: string, reason?: string): void {
    const single = this.#metrics.singleMetric();
    single.addDimensions({ outcome, trigger, ...(reason ? { reason: metricReason(reason) } : {}) });
    single.addMetric('Refreshes', MetricUnit.Count, 1);
  }

  /**
   * Tokens are served often: counted here (a few field updates, measured by bench/warm-token) and written
   * as one EMF line per minute: how many were served, how many missed the cache, and the fewest seconds to
   * expiry any of them had (the value worth an alarm).
   */
  tokenServed(secondsToExpiry: number, source: 'cache' | 'store' | 'refresh'): void {
    this.#served++;
    if (source !== 'cache') this.#misses++;
    if (secondsToExpiry < this.#minSecondsToExpiry) this.#minSecondsToExpiry = secondsToExpiry;
    if (this.now() - this.#lastFlush >= FLUSH_INTERVAL_MS) this.flush();
  }

  flush(): void {
    this.#lastFlush = this.now();
    if (this.#served > 0) {
      this.#metrics.addMetric('TokensServed', MetricUnit.Count, this.#served);
      this.#metrics.addMetric('TokenCacheMisses', MetricUnit.Count, this.#misses);
      this.#metrics.addMetric('TokenSecondsToExpiry', MetricUnit.Seconds, this.#minSecondsToExpiry);
      this.#served = 0;
      this.#misses = 0;
      this.#minSecondsToExpiry = Infinity;
    }
    if (this.#metrics.hasStoredMetrics()) this.#metrics.publishStoredMetrics();
  }
}
