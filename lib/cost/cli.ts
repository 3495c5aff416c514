/**
 * `npm run cost -- --profiles N --token-calls M --refresh-hours H`: what the broker costs per month in AWS
 * (list prices from `prices.ts`), per profile-month and per million token calls, and how many profiles a
 * region can hold before Secrets Manager's write quota is the limit.
 */
import { pathToFileURL } from 'node:url';
import { DEFAULT_ASSUMPTIONS, estimateCost, type CostAssumptions, type CostEstimate, type CostInput, type LineItem } from './model.js';
import { PRICES } from './prices.js';

export interface CostArgs {
  input: CostInput;
  assumptions: CostAssumptions;
  json: boolean;
}

export const USAGE = `Usage: npm run cost -- [options]

  --profiles N             profiles held by the broker (default 100)
  --token-calls M          token calls per month, all consumers (default 1000000; 1e6 and 1_000_000 work)
  --refresh-hours H        each profile is refreshed every H hours (default 1; a 1 h token with the
                           prod margin of 15 min refreshes every 0.75 h)
  --warm-instances K       warm token-function instances, each refilling its cache per new token (default 2)
  --refresh-latency-ms T   billed time of one refresh in the job, before concurrency (default 300)
  --writes-per-second W    the refresh job's token-set write budget (default 10, as deployed)
  --concurrency C          workers of the refresh job (default 8)
  --aws-managed-key        secrets under aws/secretsmanager instead of the stack's customer managed key
  --json                   print the estimate as JSON
`;

export class UsageError extends Error {}

function number(flag: string, raw: string | undefined, { integer = false, min = 0 } = {}): number {
  if (raw === undefined) throw new UsageError(`${flag} needs a value`);
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${flag} must be ${integer ? 'a whole number' : 'a number'} ≥ ${min}, not "${raw}"`);
  }
  return value;
}

export function parseCostArgs(argv: readonly string[]): CostArgs | 'help' {
  const input: CostInput = { profiles: 100, tokenCallsPerMonth: 1_000_000, refreshHours: 1 };
  const assumptions: CostAssumptions = structuredClone(DEFAULT_ASSUMPTIONS);
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const value = () => (eq === -1 ? argv[++i] : arg.slice(eq + 1));
    switch (flag) {
      case '--profiles':
        input.profiles = number(flag, value(), { integer: true });
        break;
      case '--token-calls':
        input.tokenCallsPerMonth = number(flag, value(), { integer: true });
        break;
      case '--refresh-hours':
        input.refreshHours = number(flag, value(), { min: 1 / 60 });
        break;
      case '--warm-instances':
        assumptions.token.warmInstances = number(flag, value(), { integer: true });
        break;
      case '--refresh-latency-ms':
        assumptions.refresh.latencyMs = number(flag, value());
        break;
      case '--writes-per-second':
        assumptions.refresh.writesPerSecond = number(flag, value(), { min: 0.001 });
        break;
      case '--concurrency':
        assumptions.refresh.concurrency = number(flag, value(), { integer: true, min: 1 });
        break;
      case '--aws-managed-key':
        assumptions.customerManagedKey = false;
        break;
      case '--json':
        json = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  return { input, assumptions, json };
}

const usd = (value: number, digits = 2) => {
  if (value !== 0 && Math.abs(value) < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
};
const count = (value: number) => Math.round(value).toLocaleString('en-US');

function section(title: string, headline: string, items: LineItem[], divisor: number, unit: string): string[] {
  const width = Math.max(...items.map((i) => i.label.length + 2), title.length) + 2;
  const amounts = items.map((item) => usd(divisor > 0 ? item.monthly / divisor : 0, 4));
  const column = Math.max(headline.length, ...amounts.map((a) => a.length));
  const lines = [`${title.padEnd(width)}${headline.padStart(column)}${unit}`];
  items.forEach((item, i) => {
    lines.push(`  ${item.label.padEnd(width - 2)}${amounts[i]!.padStart(column)}${unit}   (${usd(item.monthly)} per month)`);
  });
  return lines;
}

export function formatEstimate(estimate: CostEstimate, assumptions: CostAssumptions = DEFAULT_ASSUMPTIONS): string {
  const { input, ceiling } = estimate;
  const h = input.refreshHours;
  const lines = [
    `oauth-broker cost model: AWS list prices for ${PRICES.region} as of ${PRICES.asOf}, in ${PRICES.currency}, no free tier.`,
    `Prices must be checked before use: ${PRICES.verified}`,
    '',
    `Inputs: ${count(input.profiles)} profiles, ${count(input.tokenCallsPerMonth)} token calls per month, each profile refreshed every ${h} h ` +
      `(${estimate.refreshesPerProfileMonth.toFixed(0)} refreshes per profile-month, ${usd(estimate.perRefresh * 1000, 4)} per 1,000 refreshes).`,
    '',
    ...section('Per profile-month', usd(estimate.perProfileMonth.total, 4), estimate.perProfileMonth.items, input.profiles, ' /profile'),
    '',
    ...section('Per million token calls', usd(estimate.perMillionTokenCalls.total, 4), estimate.perMillionTokenCalls.items, input.tokenCallsPerMonth / 1e6, ' /M calls'),
    '',
    ...section('Fixed per month', usd(estimate.fixedMonthly.total, 4), estimate.fixedMonthly.items, 1, ' /month'),
    '',
    `Total per month: ${usd(estimate.totalMonthly)}` +
      ` = ${count(input.profiles)} × ${usd(estimate.perProfileMonth.total, 4)} + ${(input.tokenCallsPerMonth / 1e6).toLocaleString('en-US')} M × ${usd(estimate.perMillionTokenCalls.total, 4)} + ${usd(estimate.fixedMonthly.total)}`,
    '',
    `Profile ceiling per region (Secrets Manager write quota ~50 PutSecretValue/s, shared by the whole account; one token-set write per refresh, every ${h} h):`,
    `  at 100 % of the quota:   50 × 3600 × ${h} = ${count(ceiling.atFullQuota)} profiles`,
    `  at a safe ${(ceiling.safeShare * 100).toFixed(0)} % share:     ${count(ceiling.atSafeShare)} profiles` +
      (input.profiles > ceiling.atSafeShare ? '   <-- the input is above this' : ''),
    `  the refresh job as configured (${assumptions.refresh.concurrency} workers, ≤ ${assumptions.refresh.writesPerSecond} writes/s, ${assumptions.refresh.latencyMs} ms per refresh, ` +
      `one run per ${assumptions.fixed.refreshIntervalMinutes} min): ${ceiling.refreshJobRatePerSecond.toFixed(1)} refreshes/s → ${count(ceiling.refreshJob)} profiles` +
      (ceiling.refreshJob < ceiling.atSafeShare ? '   <-- lower than the quota share: the job is the limit' : ''),
  ];
  return lines.join('\n');
}

export function main(argv: readonly string[] = process.argv.slice(2), out: (text: string) => void = (t) => process.stdout.write(`${t}\n`)): number {
  let args: CostArgs | 'help';
  try {
    args = parseCostArgs(argv);
  } catch (error) {
    if (error instanceof UsageError || error instanceof RangeError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (args === 'help') {
    out(USAGE);
    return 0;
  }
  const estimate = estimateCost(args.input, args.assumptions);
  out(args.json ? JSON.stringify({ prices: PRICES, assumptions: args.assumptions, estimate }, null, 2) : formatEstimate(estimate, args.assumptions));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main();
}
