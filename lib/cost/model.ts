/**
 * What the broker costs in AWS, from list prices (`prices.ts`) and the calls each operation makes.
 *
 * The per-operation counts are the broker's own, measured by the benchmarks (`npm run bench`):
 * - a refresh (bench/refresh-throughput): 2 DynamoDB UpdateItem (take the lease and record the version about
 *   to be written; commit and release it), 1 GetSecretValue (the held token set; the client secret is
 *   cached per container), 1 PutSecretValue (the new token set), one row of the sparse `due` index read
 *   by the job's query;
 * - a warm token request (bench/warm-token): no AWS call;
 * - a cache miss (bench/cold-token): 1 GetItem, 1 GetSecretValue.
 * Everything else (item sizes, latencies, log bytes) is an assumption, named in `DEFAULT_ASSUMPTIONS`.
 *
 * The cost splits three ways: per profile and month (secrets, refreshes, cache refills), per million token
 * calls (API Gateway, Lambda, logs) and fixed per month (keys, alarms, metrics, the schedule).
 */
import { DEFAULT_WRITES_PER_SECOND } from '../write-budget.js';
import { PRICES, QUOTAS, type Prices } from './prices.js';

export const HOURS_PER_MONTH = 730;

export interface CostInput {
  /** Profiles held by the broker. */
  profiles: number;
  /** Token calls (`GET /profiles/{id}/token`) per month, all consumers together. */
  tokenCallsPerMonth: number;
  /** Each profile is refreshed every this many hours (token lifetime minus the refresh margin). */
  refreshHours: number;
}

export interface CostAssumptions {
  /** `SecretsManagerVault`: `<prefix>/<id>/client-secret` and `<prefix>/<id>/token-set`. */
  secretsPerProfile: number;
  /** Secrets under the stack's customer managed key: one KMS request per secret read or write. */
  customerManagedKey: boolean;
  refresh: {
    secretReads: number;
    secretWrites: number;
    /** UpdateItem calls on the profile item. */
    dynamoWrites: number;
    /** Size of a profile item (config, status, lease), KB. */
    profileItemKb: number;
    /**
     * Index copies rewritten by each write of a profile item: both GSIs project ALL attributes and the
     * profile is in both (`gsi1` always, `due` while a refresh is scheduled).
     */
    indexCopiesPerWrite: number;
    /** The commit moves the `due` index key (`dueAt`): a delete and a put in that index instead of one write. */
    extraIndexWrites: number;
    /** Billed duration per refresh inside the job, before dividing by its concurrency. */
    latencyMs: number;
    /**
     * The job's write budget (`BROKER_REFRESH_WRITES_PER_SECOND`, default 10, lib/write-budget.ts): token-set
     * writes per second, whatever its concurrency. `Infinity` for none.
     */
    writesPerSecond: number;
    /** Workers of the job (`BROKER_REFRESH_CONCURRENCY`, default 8). */
    concurrency: number;
    lambdaMemoryGb: number;
    /** "token refreshed" log line and the EMF `Refreshes` line. */
    logBytes: number;
  };
  token: {
    lambdaMemoryGb: number;
    /** Billed duration of a warm token request (Lambda rounds up to 1 ms). */
    billedMs: number;
    /** API Gateway access-log line (cdk/access-log.ts, ~20 fields) plus the amortised EMF line. */
    logBytesPerCall: number;
    /** Warm token-function instances; each refills its cache once per profile per new token. */
    warmInstances: number;
  };
  fixed: {
    /** The secrets key and the alarm topic's key. */
    kmsKeys: number;
    alarms: number;
    /** EMF metric names × dimension sets in use (TokensServed, TokenSecondsToExpiry, TokenCacheMisses, Refreshes by outcome/trigger). */
    customMetrics: number;
    refreshIntervalMinutes: number;
    /** Billed duration of a scheduled run with nothing due (the query, the summary). */
    emptyRunMs: number;
  };
}

export const DEFAULT_ASSUMPTIONS: CostAssumptions = {
  secretsPerProfile: 2,
  customerManagedKey: true,
  refresh: {
    secretReads: 1,
    secretWrites: 1,
    dynamoWrites: 2,
    profileItemKb: 1.5,
    indexCopiesPerWrite: 2,
    extraIndexWrites: 1,
    latencyMs: 300,
    writesPerSecond: DEFAULT_WRITES_PER_SECOND,
    concurrency: 8,
    lambdaMemoryGb: 0.5,
    logBytes: 800,
  },
  token: {
    lambdaMemoryGb: 0.5,
    billedMs: 3,
    logBytesPerCall: 760,
    warmInstances: 2,
  },
  fixed: {
    kmsKeys: 2,
    alarms: 5,
    customMetrics: 12,
    refreshIntervalMinutes: 5,
    emptyRunMs: 200,
  },
};

export interface LineItem {
  label: string;
  /** USD per month for the whole input. */
  monthly: number;
}

export interface CostEstimate {
  input: CostInput;
  refreshesPerProfileMonth: number;
  /** USD per refresh, all services. */
  perRefresh: number;
  perProfileMonth: { total: number; items: LineItem[] };
  perMillionTokenCalls: { total: number; items: LineItem[] };
  fixedMonthly: { total: number; items: LineItem[] };
  totalMonthly: number;
  ceiling: ProfileCeiling;
}

export interface ProfileCeiling {
  /** Profiles whose refreshes use 100 % of Secrets Manager's write quota. */
  atFullQuota: number;
  /** At a 20 % share of the quota, leaving the rest to the account's other writers. */
  atSafeShare: number;
  safeShare: number;
  /** What the refresh job as configured can refresh (reserved concurrency 1, one run per interval). */
  refreshJob: number;
  /** The job's refresh rate while it runs, per second. */
  refreshJobRatePerSecond: number;
}

const GB = 1024 ** 3;

function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a number ≥ 0, not ${value}`);
}

/** Write request units of one write of an item of `kb` KB (1 WRU per started KB). */
export function writeUnits(kb: number): number {
  return Math.max(1, Math.ceil(kb));
}

/** Lambda timeout of the refresh job and the window it works in (cdk/broker-stack.ts, lambdas/refresh.ts). */
export function refreshJobWindowSeconds(refreshIntervalMinutes: number): number {
  const timeout = Math.max(30, Math.min(900, refreshIntervalMinutes * 60 - 30));
  return timeout - 15;
}

/**
 * The profile ceiling per region: each refresh writes one token set (one PutSecretValue), each profile
 * refreshes every `refreshHours`, and the account shares ~50 writes/s.
 */
export function profileCeiling(refreshHours: number, assumptions: CostAssumptions = DEFAULT_ASSUMPTIONS, safeShare = 0.2): ProfileCeiling {
  positive('refreshHours', refreshHours);
  const writesPerRefresh = assumptions.refresh.secretWrites;
  const atFullQuota = (QUOTAS.secretsManagerWritesPerSecond * 3600 * refreshHours) / writesPerRefresh;
  const refreshJobRatePerSecond = refreshJobRate(assumptions);
  const runsPerHour = 60 / assumptions.fixed.refreshIntervalMinutes;
  const refreshJob = refreshJobRatePerSecond * refreshJobWindowSeconds(assumptions.fixed.refreshIntervalMinutes) * runsPerHour * refreshHours;
  return { atFullQuota, atSafeShare: atFullQuota * safeShare, safeShare, refreshJob, refreshJobRatePerSecond };
}

/**
 * Refreshes per second of the scheduled job: its workers, each spending `latencyMs` per refresh, limited by
 * its write budget (each refresh writes one token set).
 */
export function refreshJobRate(assumptions: CostAssumptions): number {
  const { concurrency, latencyMs, writesPerSecond } = assumptions.refresh;
  return Math.min(concurrency / (latencyMs / 1000), writesPerSecond);
}

export function estimateCost(input: CostInput, assumptions: CostAssumptions = DEFAULT_ASSUMPTIONS, prices: Prices = PRICES): CostEstimate {
  positive('profiles', input.profiles);
  positive('tokenCallsPerMonth', input.tokenCallsPerMonth);
  positive('refreshHours', input.refreshHours);
  if (input.refreshHours === 0) throw new RangeError('refreshHours must be greater than 0');
  const { refresh, token, fixed } = assumptions;
  const refreshesPerProfileMonth = HOURS_PER_MONTH / input.refreshHours;

  const secretCall = prices.secretsManager.per10kApiCalls / 10_000;
  const kmsRequest = assumptions.customerManagedKey ? prices.kms.per10kRequests / 10_000 : 0;
  const wru = prices.dynamoDb.writeRequestUnitsPerMillion / 1e6;
  const rru = prices.dynamoDb.readRequestUnitsPerMillion / 1e6;
  const gbSecond = prices.lambda.arm64PerGbSecond;
  const logGb = prices.cloudWatch.logsIngestionPerGb / GB;

  // --- One refresh. ---------------------------------------------------------------------------------------
  const secretCalls = refresh.secretReads + refresh.secretWrites;
  const refreshSecrets = secretCalls * secretCall;
  const refreshKms = secretCalls * kmsRequest;
  const itemWrites = refresh.dynamoWrites * (1 + refresh.indexCopiesPerWrite) + refresh.extraIndexWrites;
  const refreshWru = itemWrites * writeUnits(refresh.profileItemKb);
  // The job's query reads the due rows from the index: eventually consistent, 4 KB per RRU, half price.
  const refreshRru = (refresh.profileItemKb / 4) * 0.5;
  const refreshDynamo = refreshWru * wru + refreshRru * rru;
  // The job's one instance is billed for its whole run, shared by the refreshes it makes at its rate.
  const refreshGbSeconds = refresh.lambdaMemoryGb / refreshJobRate(assumptions);
  const refreshLambda = refreshGbSeconds * gbSecond;
  const refreshLogs = refresh.logBytes * logGb;
  const perRefresh = refreshSecrets + refreshKms + refreshDynamo + refreshLambda + refreshLogs;

  // --- Per profile and month. ----------------------------------------------------------------------------
  const profiles = input.profiles;
  const refreshes = profiles * refreshesPerProfileMonth;
  // Each warm instance reads a profile's new token once (1 GetItem, consistent, ≤ 4 KB; 1 GetSecretValue),
  // but never more often than there are token calls.
  const refills = Math.min(input.tokenCallsPerMonth, profiles * refreshesPerProfileMonth * token.warmInstances);
  const refillUnit = 1 * rru + secretCall + kmsRequest;
  const storedKb = refresh.profileItemKb * (1 + refresh.indexCopiesPerWrite);
  const storage = ((profiles * storedKb) / 1024 ** 2) * (prices.dynamoDb.storagePerGbMonth + prices.dynamoDb.pitrPerGbMonth);
  const profileItems: LineItem[] = [
    { label: `Secrets Manager: ${assumptions.secretsPerProfile} secrets per profile`, monthly: profiles * assumptions.secretsPerProfile * prices.secretsManager.perSecretMonth },
    { label: `Secrets Manager API: ${secretCalls} calls per refresh`, monthly: refreshes * refreshSecrets },
    ...(assumptions.customerManagedKey ? [{ label: `KMS: ${secretCalls} requests per refresh (customer managed key)`, monthly: refreshes * refreshKms }] : []),
    { label: `DynamoDB: ${refreshWru} WRU + ${refreshRru.toFixed(2)} RRU per refresh`, monthly: refreshes * refreshDynamo },
    { label: `Lambda: refresh job (${refreshGbSeconds.toFixed(3)} GB-s per refresh)`, monthly: refreshes * refreshLambda },
    { label: 'CloudWatch Logs: refresh log and EMF lines', monthly: refreshes * refreshLogs },
    { label: `Token cache refills (${token.warmInstances} warm instances × each new token)`, monthly: refills * refillUnit },
    { label: 'DynamoDB storage and point-in-time recovery', monthly: storage },
  ];
  const profileMonthly = sum(profileItems);

  // --- Per million token calls. --------------------------------------------------------------------------
  const calls = input.tokenCallsPerMonth;
  const callItems: LineItem[] = [
    { label: 'API Gateway REST requests', monthly: (calls / 1e6) * prices.apiGateway.restRequestsPerMillion },
    { label: 'Lambda requests', monthly: (calls / 1e6) * prices.lambda.requestsPerMillion },
    { label: `Lambda duration (${token.billedMs} ms billed at ${token.lambdaMemoryGb * 1024} MB)`, monthly: calls * ((token.lambdaMemoryGb * token.billedMs) / 1000) * gbSecond },
    { label: 'CloudWatch Logs: access log line and EMF', monthly: calls * token.logBytesPerCall * logGb },
  ];
  const callsMonthly = sum(callItems);

  // --- Fixed. --------------------------------------------------------------------------------------------
  const runs = (HOURS_PER_MONTH * 60) / fixed.refreshIntervalMinutes;
  const fixedItems: LineItem[] = [
    { label: `KMS: ${fixed.kmsKeys} customer managed keys`, monthly: fixed.kmsKeys * prices.kms.perKeyMonth },
    { label: `CloudWatch: ${fixed.alarms} alarms`, monthly: fixed.alarms * prices.cloudWatch.alarmPerMonth },
    { label: `CloudWatch: ~${fixed.customMetrics} EMF custom metrics`, monthly: fixed.customMetrics * prices.cloudWatch.customMetricPerMonth },
    {
      label: `Refresh schedule: ${Math.round(runs).toLocaleString('en-US')} runs (Lambda, due-index query)`,
      monthly:
        runs * (prices.lambda.requestsPerMillion / 1e6) +
        runs * ((refresh.lambdaMemoryGb * fixed.emptyRunMs) / 1000) * gbSecond +
        runs * 0.5 * rru +
        runs * prices.eventBridge.scheduledRuleInvocationsPerMillion / 1e6,
    },
  ];
  const fixedMonthly = sum(fixedItems);

  return {
    input,
    refreshesPerProfileMonth,
    perRefresh,
    perProfileMonth: { total: profiles > 0 ? profileMonthly / profiles : perProfileAt1(input, assumptions, prices), items: profileItems },
    perMillionTokenCalls: { total: calls > 0 ? callsMonthly / (calls / 1e6) : perMillionAt1(assumptions, prices), items: callItems },
    fixedMonthly: { total: fixedMonthly, items: fixedItems },
    totalMonthly: profileMonthly + callsMonthly + fixedMonthly,
    ceiling: profileCeiling(input.refreshHours, assumptions),
  };
}

/** The per-unit figures are still defined when an input is 0: estimate for one unit instead. */
function perProfileAt1(input: CostInput, assumptions: CostAssumptions, prices: Prices): number {
  return estimateCost({ ...input, profiles: 1 }, assumptions, prices).perProfileMonth.total;
}

function perMillionAt1(assumptions: CostAssumptions, prices: Prices): number {
  return estimateCost({ profiles: 0, tokenCallsPerMonth: 1e6, refreshHours: 1 }, assumptions, prices).perMillionTokenCalls.total;
}

function sum(items: LineItem[]): number {
  return items.reduce((total, item) => total + item.monthly, 0);
}
