/**
 * What every benchmark shares: arguments, interleaved rounds with medians, the results table, quiet stdout
 * while the real code writes its logs and EMF metrics, peak memory, and the result file `bench/run.ts`
 * collects.
 *
 * Figures are ratios against a baseline measured in the same process and run: these machines are shared
 * and noisy, so absolute numbers mean little, and baseline and broker alternate round by round.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// -----------------------------------------------------------------------------------------------------
// Results
// -----------------------------------------------------------------------------------------------------

/** `>=`: ratio at least `value`; `<=`: at most; `=`: exactly; `info`: reported, no target. */
/** `on`: the ratio, the broker's figure, or what the broker adds to the baseline (broker − baseline). */
export type Target = { kind: '>=' | '<=' | '='; value: number; on: 'ratio' | 'broker' | 'added' } | { kind: 'info' };

export interface Row {
  metric: string;
  unit: string;
  baseline: number | null;
  broker: number | null;
  /** broker ÷ baseline, when both are numbers and it means something. */
  ratio: number | null;
  target: Target;
  /** `null` for info rows. */
  pass: boolean | null;
  note?: string;
}

export interface BenchmarkResult {
  name: string;
  title: string;
  /** What was measured, how, and on what (one line each). */
  setup: string[];
  rows: Row[];
  memory: { peakRssMiB: number; note: string };
  /** Findings: targets missed and why, scaled-down parameters, caveats. */
  notes: string[];
  /** Raw samples and anything else worth keeping. */
  details: Record<string, unknown>;
  durationSeconds: number;
}

/**
 * One table row. `ratio` is broker ÷ baseline of the two figures unless `options.ratio` gives it (the
 * median of per-round paired ratios, which cancels load that drifts between rounds).
 */
export function row(
  metric: string,
  unit: string,
  baseline: number | null,
  broker: number | null,
  target: Target,
  options: { note?: string; ratio?: number } = {},
): Row {
  const ratio = options.ratio ?? (baseline !== null && broker !== null && baseline !== 0 ? broker / baseline : null);
  let pass: boolean | null = null;
  if (target.kind !== 'info') {
    const value = target.on === 'ratio' ? ratio : target.on === 'added' ? (broker !== null && baseline !== null ? broker - baseline : null) : broker;
    if (value === null) pass = false;
    else if (target.kind === '>=') pass = value >= target.value;
    else if (target.kind === '<=') pass = value <= target.value;
    else pass = Math.abs(value - target.value) < 1e-9;
  }
  return { metric, unit, baseline, broker, ratio, target, pass, ...(options.note ? { note: options.note } : {}) };
}

/** Median of `broker[i] / baseline[i]` over rounds measured side by side. */
export function pairedRatio(baseline: readonly number[], broker: readonly number[]): number {
  const n = Math.min(baseline.length, broker.length);
  return median(Array.from({ length: n }, (_, i) => broker[i]! / baseline[i]!));
}

export const atLeast = (value: number): Target => ({ kind: '>=', value, on: 'ratio' });
export const atMost = (value: number): Target => ({ kind: '<=', value, on: 'ratio' });
export const brokerAtMost = (value: number): Target => ({ kind: '<=', value, on: 'broker' });
/** What the broker adds to the baseline (e.g. KiB of its own code over the SDK-only bundle) at most. */
export const addedAtMost = (value: number): Target => ({ kind: '<=', value, on: 'added' });
export const brokerExactly = (value: number): Target => ({ kind: '=', value, on: 'broker' });
export const info: Target = { kind: 'info' };

// -----------------------------------------------------------------------------------------------------
// Table
// -----------------------------------------------------------------------------------------------------

function formatNumber(value: number | null): string {
  if (value === null) return '—';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs === 0) return '0';
  if (abs >= 10_000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function formatTarget(target: Target): string {
  if (target.kind === 'info') return 'info';
  const what = target.on === 'ratio' ? 'ratio' : target.on === 'added' ? 'broker − baseline' : 'broker';
  const op = target.kind === '=' ? '=' : target.kind === '>=' ? '≥' : '≤';
  return `${what} ${op} ${formatNumber(target.value)}`;
}

export function formatTable(result: Pick<BenchmarkResult, 'title' | 'rows' | 'memory'>): string {
  const header = ['metric', 'unit', 'baseline', 'broker', 'ratio', 'target', 'result'];
  const body = result.rows.map((r) => [
    r.metric,
    r.unit,
    formatNumber(r.baseline),
    formatNumber(r.broker),
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    formatTarget(r.target),
    r.pass === null ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  body.push(['peak RSS of this benchmark process', 'MiB', '—', formatNumber(result.memory.peakRssMiB), '—', 'info', '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const numeric = new Set([2, 3, 4]);
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [`### ${result.title}`, '', line(header), rule, ...body.map(line)].join('\n');
}

// -----------------------------------------------------------------------------------------------------
// Statistics and interleaved rounds
// -----------------------------------------------------------------------------------------------------

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summary(values: readonly number[]): { median: number; min: number; max: number; n: number } {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/**
 * Runs `fn` back to back (awaiting each call) for about `sliceMs`, in batches so the clock is read rarely.
 * Returns calls per second.
 */
export async function rateOver(fn: () => Promise<unknown>, sliceMs: number, batch = 64): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) await fn();
    calls += batch;
    elapsed = performance.now() - start;
  } while (elapsed < sliceMs);
  return (calls / elapsed) * 1000;
}

/**
 * Interleaved rounds: each round measures every variant once, in an order that rotates from round to round,
 * so that drift in machine load spreads evenly over the variants. Returns the samples per variant.
 */
export async function interleave<K extends string>(
  rounds: number,
  variants: Record<K, () => Promise<number>>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    if (round % 2 === 1) order.reverse();
    for (const name of order) samples[name].push(await variants[name]());
  }
  return samples;
}

/** Runs `work` on `items` with at most `concurrency` at a time. */
export async function pool<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

// -----------------------------------------------------------------------------------------------------
// Quiet stdout
// -----------------------------------------------------------------------------------------------------

/**
 * While a benchmark runs the real code, its logs and EMF metric lines (Powertools writes them to stdout
 * through its own `Console`) are swallowed instead of flooding the terminal. The work of formatting them is
 * still done; the bytes are counted so the report can say how much was written.
 */
export class QuietStdout {
  bytes = 0;
  lines = 0;
  #original: typeof process.stdout.write | undefined;

  start(): void {
    if (this.#original) return;
    this.#original = process.stdout.write;
    const count = (text: string) => {
      this.bytes += Buffer.byteLength(text);
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.lines++;
    };
    process.stdout.write = function write(chunk: unknown, ...rest: unknown[]): boolean {
      count(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      const callback = rest.find((r): r is () => void => typeof r === 'function');
      if (callback) process.nextTick(callback);
      return true;
    } as typeof process.stdout.write;
  }

  stop(): void {
    if (!this.#original) return;
    process.stdout.write = this.#original;
    this.#original = undefined;
  }

  reset(): void {
    this.bytes = 0;
    this.lines = 0;
  }
}

/** Messages for the person watching, on stderr (stdout may be quiet). */
export function progress(message: string): void {
  process.stderr.write(`  … ${message}\n`);
}

// -----------------------------------------------------------------------------------------------------
// Arguments
// -----------------------------------------------------------------------------------------------------

export interface BenchArgs {
  /** Refresh throughput: number of due profiles. */
  profiles: number;
  /** Refresh throughput: concurrency of the scheduled job and of the raw baseline. */
  concurrency: number;
  /** Number of interleaved rounds (each benchmark has its own default). */
  rounds: number | undefined;
  /** Shorter slices and fewer rounds: a smoke run. */
  quick: boolean;
  /** Only these benchmarks (by name). */
  only: string[];
}

export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const args: BenchArgs = { profiles: 1000, concurrency: 8, rounds: undefined, quick: false, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const positive = (name: string, raw: string) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, not "${raw}"`);
      return n;
    };
    switch (flag) {
      case '--profiles':
        args.profiles = positive(flag, value());
        break;
      case '--concurrency':
        args.concurrency = positive(flag, value());
        break;
      case '--rounds':
        args.rounds = positive(flag, value());
        break;
      case '--quick':
        args.quick = true;
        break;
      case '--only':
        args.only.push(...value().split(',').map((s) => s.trim()).filter(Boolean));
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'npm run bench -- [--only warm-token,cold-token,cold-start,refresh-throughput] [--profiles 1000] [--concurrency 8] [--rounds N] [--quick]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${arg}" (try --help)`);
    }
  }
  return args;
}

// -----------------------------------------------------------------------------------------------------
// Running one benchmark
// -----------------------------------------------------------------------------------------------------

/** Peak resident set size of this process so far (Linux reports KiB). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export type BenchmarkBody = (args: BenchArgs) => Promise<Omit<BenchmarkResult, 'memory' | 'durationSeconds'> & { memoryNote?: string }>;

/**
 * Entry point of each `bench/*.bench.ts`: runs the body in this process (each benchmark gets its own
 * process from `bench/run.ts`, so that the peak RSS belongs to it alone), prints the table and writes the
 * result where `BENCH_RESULT_FILE` says.
 */
export async function runBenchmark(body: BenchmarkBody): Promise<void> {
  const started = performance.now();
  let exitCode = 0;
  try {
    const args = parseArgs();
    const { memoryNote, ...outcome } = await body(args);
    const result: BenchmarkResult = {
      ...outcome,
      memory: { peakRssMiB: peakRssMiB(), note: memoryNote ?? 'maxRSS of the benchmark process (process.resourceUsage)' },
      durationSeconds: (performance.now() - started) / 1000,
    };
    process.stdout.write(`\n${formatTable(result)}\n\n`);
    for (const line of result.setup) process.stdout.write(`- ${line}\n`);
    for (const note of result.notes) process.stdout.write(`- NOTE: ${note}\n`);
    process.stdout.write(`(${result.durationSeconds.toFixed(1)} s)\n`);
    const file = process.env.BENCH_RESULT_FILE;
    if (file) writeFileSync(file, JSON.stringify(result, null, 2));
  } catch (error) {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    exitCode = 1;
  }
  // Servers, sockets and SDK clients may keep the loop alive; the benchmark is over.
  process.exit(exitCode);
}
