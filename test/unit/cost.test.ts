/**
 * The cost model's arithmetic (lib/cost): prices in one place, per-refresh counts, the split into
 * per-profile, per-call and fixed costs, the Secrets Manager ceiling, and the CLI's arguments.
 */
import { describe, expect, it } from 'vitest';
import { main, parseCostArgs, UsageError } from '../../lib/cost/cli.js';
import {
  DEFAULT_ASSUMPTIONS,
  HOURS_PER_MONTH,
  estimateCost,
  profileCeiling,
  refreshJobWindowSeconds,
  writeUnits,
  type CostAssumptions,
} from '../../lib/cost/model.js';
import { PRICES, QUOTAS } from '../../lib/cost/prices.js';

const item = (items: Array<{ label: string; monthly: number }>, start: string) => {
  const found = items.find((i) => i.label.startsWith(start));
  expect(found, `line item "${start}"`).toBeDefined();
  return found!.monthly;
};

describe('prices', () => {
  it('are dated and name their region', () => {
    expect(PRICES.asOf).toMatch(/^\d{4}-\d{2}$/);
    expect(PRICES.region).toBe('us-east-1');
    expect(PRICES.verified).toMatch(/check/i);
  });
});

describe('writeUnits', () => {
  it('charges one WRU per started KB, at least one', () => {
    expect(writeUnits(0.2)).toBe(1);
    expect(writeUnits(1)).toBe(1);
    expect(writeUnits(1.5)).toBe(2);
    expect(writeUnits(3.01)).toBe(4);
  });
});

describe('profileCeiling', () => {
  it('is 50 writes/s × 3600 s × H at the full quota, and 20 % of that at the safe share', () => {
    const ceiling = profileCeiling(1);
    expect(QUOTAS.secretsManagerWritesPerSecond).toBe(50);
    expect(ceiling.atFullQuota).toBe(180_000);
    expect(ceiling.atSafeShare).toBe(36_000);
    expect(profileCeiling(0.75).atFullQuota).toBe(135_000);
    expect(profileCeiling(24, DEFAULT_ASSUMPTIONS, 0.5).atSafeShare).toBe(2_160_000);
  });

  it('bounds the refresh job by its write budget, or by its workers and the time per refresh when they are slower', () => {
    // 8 workers at 300 ms could make 26.7 refreshes/s; the budget of 10 writes/s holds them to 10, for 255 s per 5-min run.
    const ceiling = profileCeiling(1);
    expect(refreshJobWindowSeconds(5)).toBe(255);
    expect(ceiling.refreshJobRatePerSecond).toBe(10);
    expect(ceiling.refreshJob).toBeCloseTo(10 * 255 * 12, 6);
    const noBudget: CostAssumptions = { ...DEFAULT_ASSUMPTIONS, refresh: { ...DEFAULT_ASSUMPTIONS.refresh, writesPerSecond: Infinity } };
    expect(profileCeiling(1, noBudget).refreshJobRatePerSecond).toBeCloseTo(8 / 0.3, 10);
    const slowWorkers: CostAssumptions = { ...DEFAULT_ASSUMPTIONS, refresh: { ...DEFAULT_ASSUMPTIONS.refresh, concurrency: 2 } };
    expect(profileCeiling(1, slowWorkers).refreshJobRatePerSecond).toBeCloseTo(2 / 0.3, 10);
  });

  it('keeps the job window inside the Lambda timeout the stack derives from the interval', () => {
    expect(refreshJobWindowSeconds(1)).toBe(30 - 15);
    expect(refreshJobWindowSeconds(60)).toBe(900 - 15);
  });
});

describe('estimateCost', () => {
  const input = { profiles: 1000, tokenCallsPerMonth: 10_000_000, refreshHours: 1 };

  it('charges two secrets per profile at the list price', () => {
    const estimate = estimateCost(input);
    expect(item(estimate.perProfileMonth.items, 'Secrets Manager: 2 secrets')).toBeCloseTo(1000 * 2 * 0.4, 10);
  });

  it('charges 2 Secrets Manager calls and 2 KMS requests per refresh (the client secret is cached)', () => {
    const estimate = estimateCost(input);
    const refreshes = 1000 * HOURS_PER_MONTH;
    expect(estimate.refreshesPerProfileMonth).toBe(730);
    expect(item(estimate.perProfileMonth.items, 'Secrets Manager API')).toBeCloseTo((refreshes * 2 * 0.05) / 10_000, 10);
    expect(item(estimate.perProfileMonth.items, 'KMS')).toBeCloseTo((refreshes * 2 * 0.03) / 10_000, 10);
  });

  it('counts the index copies of each profile write: (2 writes × 3 copies + 1 index move) × 2 WRU', () => {
    const estimate = estimateCost(input);
    const perRefresh = 14 * (0.625 / 1e6) + (1.5 / 4) * 0.5 * (0.125 / 1e6);
    expect(item(estimate.perProfileMonth.items, 'DynamoDB: 14 WRU')).toBeCloseTo(1000 * 730 * perRefresh, 10);
  });

  it('bills the refresh job for its run, shared by the refreshes it makes at its rate', () => {
    const estimate = estimateCost(input);
    const gbSeconds = 0.5 / 10;
    expect(item(estimate.perProfileMonth.items, 'Lambda: refresh job')).toBeCloseTo(1000 * 730 * gbSeconds * 0.0000133334, 10);
  });

  it('refills each warm instance once per new token, never more often than there are calls', () => {
    const refill = 0.125 / 1e6 + 0.05 / 10_000 + 0.03 / 10_000;
    const many = estimateCost(input);
    expect(item(many.perProfileMonth.items, 'Token cache refills')).toBeCloseTo(1000 * 730 * 2 * refill, 10);
    const few = estimateCost({ ...input, tokenCallsPerMonth: 5000 });
    expect(item(few.perProfileMonth.items, 'Token cache refills')).toBeCloseTo(5000 * refill, 10);
  });

  it('makes a warm token call cost API Gateway + Lambda + logs, and no AWS data call', () => {
    const estimate = estimateCost(input);
    const expected = 3.5 + 0.2 + 1e6 * ((0.5 * 3) / 1000) * 0.0000133334 + (1e6 * 760 * 0.5) / 1024 ** 3;
    expect(estimate.perMillionTokenCalls.total).toBeCloseTo(expected, 10);
    expect(estimate.perMillionTokenCalls.items.map((i) => i.label).join(' ')).not.toMatch(/DynamoDB|Secrets/);
  });

  it('adds up: total = profiles × per profile + millions of calls × per million + fixed', () => {
    const estimate = estimateCost(input);
    expect(estimate.totalMonthly).toBeCloseTo(
      1000 * estimate.perProfileMonth.total + 10 * estimate.perMillionTokenCalls.total + estimate.fixedMonthly.total,
      8,
    );
    expect(item(estimate.fixedMonthly.items, 'KMS: 2')).toBe(2);
    expect(item(estimate.fixedMonthly.items, 'CloudWatch: 5 alarms')).toBeCloseTo(0.5, 10);
  });

  it('is driven by the two secrets per profile at the default inputs', () => {
    const estimate = estimateCost(input);
    expect(estimate.perProfileMonth.total).toBeGreaterThan(0.8);
    expect(estimate.perProfileMonth.total).toBeLessThan(0.9);
  });

  it('scales refresh costs with 1/H and leaves storage alone', () => {
    const hourly = estimateCost(input);
    const daily = estimateCost({ ...input, refreshHours: 24 });
    expect(item(daily.perProfileMonth.items, 'Secrets Manager API')).toBeCloseTo(item(hourly.perProfileMonth.items, 'Secrets Manager API') / 24, 10);
    expect(item(daily.perProfileMonth.items, 'Secrets Manager: 2 secrets')).toBe(item(hourly.perProfileMonth.items, 'Secrets Manager: 2 secrets'));
  });

  it('drops the KMS requests when the secrets use the AWS managed key', () => {
    const estimate = estimateCost(input, { ...DEFAULT_ASSUMPTIONS, customerManagedKey: false });
    expect(estimate.perProfileMonth.items.some((i) => i.label.startsWith('KMS'))).toBe(false);
  });

  it('still gives per-unit figures when an input is zero', () => {
    const none = estimateCost({ profiles: 0, tokenCallsPerMonth: 0, refreshHours: 1 });
    expect(none.totalMonthly).toBeCloseTo(none.fixedMonthly.total, 10);
    expect(none.perProfileMonth.total).toBeGreaterThan(0.8);
    expect(none.perMillionTokenCalls.total).toBeGreaterThan(3.7);
  });

  it('refuses nonsense', () => {
    expect(() => estimateCost({ ...input, profiles: -1 })).toThrow(RangeError);
    expect(() => estimateCost({ ...input, refreshHours: 0 })).toThrow(RangeError);
    expect(() => estimateCost({ ...input, tokenCallsPerMonth: Number.NaN })).toThrow(RangeError);
  });
});

describe('the cost CLI', () => {
  it('reads --profiles, --token-calls and --refresh-hours (with = or a space, and _ separators)', () => {
    const args = parseCostArgs(['--profiles', '250', '--token-calls=2_000_000', '--refresh-hours', '0.75']);
    expect(args).not.toBe('help');
    if (args === 'help') return;
    expect(args.input).toEqual({ profiles: 250, tokenCallsPerMonth: 2_000_000, refreshHours: 0.75 });
    expect(args.assumptions).toEqual(DEFAULT_ASSUMPTIONS);
  });

  it('changes assumptions without touching the defaults', () => {
    const args = parseCostArgs(['--writes-per-second', '25', '--warm-instances', '5', '--aws-managed-key']);
    if (args === 'help') throw new Error('unexpected help');
    expect(args.assumptions.refresh.writesPerSecond).toBe(25);
    expect(args.assumptions.token.warmInstances).toBe(5);
    expect(args.assumptions.customerManagedKey).toBe(false);
    expect(DEFAULT_ASSUMPTIONS.refresh.writesPerSecond).toBe(10);
  });

  it('refuses unknown options and bad numbers', () => {
    expect(() => parseCostArgs(['--profile', '3'])).toThrow(UsageError);
    expect(() => parseCostArgs(['--profiles', '2.5'])).toThrow(UsageError);
    expect(() => parseCostArgs(['--token-calls'])).toThrow(UsageError);
    expect(parseCostArgs(['--help'])).toBe('help');
  });

  it('prints per profile-month, per million calls, totals and the ceiling at 100 % and 20 %', () => {
    const output: string[] = [];
    expect(main(['--profiles', '1000', '--token-calls', '10000000', '--refresh-hours', '1'], (t) => output.push(t))).toBe(0);
    const text = output.join('\n');
    expect(text).toContain('Per profile-month');
    expect(text).toContain('Per million token calls');
    expect(text).toContain('Total per month');
    expect(text).toContain('180,000 profiles');
    expect(text).toContain('36,000 profiles');
    expect(text).toContain(PRICES.asOf);
  });

  it('prints JSON on request', () => {
    const output: string[] = [];
    main(['--json', '--profiles', '10'], (t) => output.push(t));
    const parsed = JSON.parse(output.join('')) as { estimate: { input: { profiles: number } }; prices: { asOf: string } };
    expect(parsed.estimate.input.profiles).toBe(10);
    expect(parsed.prices.asOf).toBe(PRICES.asOf);
  });
});
