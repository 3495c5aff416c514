/**
 * A what-if for the warm-token benchmark, not used by the broker: token metrics counted in plain fields on
 * the hot path and handed to Powertools once per flush (every 60 s, or when the scheduled job flushes),
 * instead of two or three `addMetric` calls per request. Refreshes are written as `PowertoolsMetrics` does.
 * The benchmark measures what this would save per warm request; the EMF it writes carries the same
 * metric names (the seconds-to-expiry distribution as min/max/sum/count values).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { BrokerMetrics } from '../../lib/metrics.js';

const FLUSH_INTERVAL_MS = 60_000;

export class AggregatedTokenMetrics implements BrokerMetrics {
  readonly #metrics = new Metrics({ namespace: 'OAuthBroker', serviceName: 'oauth-broker' });
  #served = 0;
  #misses = 0;
  #expiryMin = Infinity;
  #expiryMax = -Infinity;
  #lastFlush: number;

  constructor(private readonly now: () => number = Date.now) {
    this.#lastFlush = now();
  }

  refresh(outcome: string, trigger: string, reason?: string): void {
    const single = this.#metrics.singleMetric();
    single.addDimensions({ outcome, trigger, ...(reason ? { reason } : {}) });
    single.addMetric('Refreshes', MetricUnit.Count, 1);
  }

  tokenServed(secondsToExpiry: number, source: 'cache' | 'store' | 'refresh'): void {
    this.#served++;
    if (source !== 'cache') this.#misses++;
    if (secondsToExpiry < this.#expiryMin) this.#expiryMin = secondsToExpiry;
    if (secondsToExpiry > this.#expiryMax) this.#expiryMax = secondsToExpiry;
    if (this.now() - this.#lastFlush >= FLUSH_INTERVAL_MS) this.flush();
  }

  flush(): void {
    this.#lastFlush = this.now();
    if (this.#served > 0) {
      this.#metrics.addMetric('TokensServed', MetricUnit.Count, this.#served);
      this.#metrics.addMetric('TokenCacheMisses', MetricUnit.Count, this.#misses);
      this.#metrics.addMetric('TokenSecondsToExpiry', MetricUnit.Seconds, this.#expiryMin);
      this.#metrics.addMetric('TokenSecondsToExpiry', MetricUnit.Seconds, this.#expiryMax);
      this.#served = 0;
      this.#misses = 0;
      this.#expiryMin = Infinity;
      this.#expiryMax = -Infinity;
    }
    if (this.#metrics.hasStoredMetrics()) this.#metrics.publishStoredMetrics();
  }
}
