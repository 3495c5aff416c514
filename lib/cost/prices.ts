/**
 * AWS list prices the cost model uses: the ONE place they live, with the date they are assumed for.
 *
 * US East (N. Virginia), on-demand, in US dollars, without free tiers or volume discounts (Lambda and API
 * Gateway get cheaper past billions of requests; this broker never gets there). Prices change: CHECK THEM
 * against the pricing pages below before quoting a figure, and update `asOf` with the date you checked.
 */
export const PRICES = {
  region: 'us-east-1',
  /** The month these prices are assumed to hold for. */
  asOf: '2026-11',
  verified:
    'Values as published on the AWS pricing pages when last read (2025); not re-checked since. ' +
    'Check them before relying on the figures: https://aws.amazon.com/{lambda,api-gateway,dynamodb,secrets-manager,kms,eventbridge,cloudwatch}/pricing/',
  currency: 'USD',
  lambda: {
    /** Arm (Graviton) duration, first 6 billion GB-s per month. */
    arm64PerGbSecond: 0.0000133334,
    requestsPerMillion: 0.2,
  },
  apiGateway: {
    /** REST APIs, first 333 million requests per month. */
    restRequestsPerMillion: 3.5,
  },
  dynamoDb: {
    /** On-demand (since the November 2024 price cut). One WRU writes up to 1 KB. */
    writeRequestUnitsPerMillion: 0.625,
    /** One RRU: a strongly consistent read up to 4 KB, or two eventually consistent ones. */
    readRequestUnitsPerMillion: 0.125,
    /** Standard table class, beyond the first 25 GB. */
    storagePerGbMonth: 0.25,
    /** Continuous backups (point-in-time recovery, on in the stack). */
    pitrPerGbMonth: 0.2,
  },
  secretsManager: {
    /** Per secret per month (prorated by the hour). */
    perSecretMonth: 0.4,
    /** Every API call: GetSecretValue, PutSecretValue, CreateSecret, … */
    per10kApiCalls: 0.05,
  },
  kms: {
    /** Per customer managed key per month. */
    perKeyMonth: 1.0,
    /** Symmetric requests (Decrypt, GenerateDataKey): Secrets Manager makes one per read or write of a secret under a customer managed key. */
    per10kRequests: 0.03,
  },
  eventBridge: {
    /** Custom events put on a bus (the broker's status-change events), per 64 KB chunk. */
    customEventsPerMillion: 1.0,
    /** Scheduled rules (the refresh schedule is an EventBridge rule) are not charged. */
    scheduledRuleInvocationsPerMillion: 0,
  },
  cloudWatch: {
    /** Logs ingested (standard class; Lambda and API Gateway logs start at this tier). */
    logsIngestionPerGb: 0.5,
    logsStoragePerGbMonth: 0.03,
    /** Per custom metric (EMF metric name × dimension set) per month, first 10,000. */
    customMetricPerMonth: 0.3,
    /** Standard-resolution alarm per month. */
    alarmPerMonth: 0.1,
    /** PutMetricData, per 1,000 requests: what EMF avoids. */
    putMetricDataPer1k: 0.01,
  },
} as const;

export type Prices = typeof PRICES;

/** Secrets Manager quotas (per account and region) that bound the broker. */
export const QUOTAS = {
  /** PutSecretValue (with UpdateSecret and the other write APIs) requests per second, shared by the account. */
  secretsManagerWritesPerSecond: 50,
  /** GetSecretValue requests per second. */
  secretsManagerReadsPerSecond: 10_000,
} as const;
