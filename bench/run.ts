/**
 * `npm run bench [-- --profiles N --concurrency C --rounds R --quick --only a,b]`: runs every benchmark,
 * each in its own Node process (so its peak RSS is its own and no mock or server leaks into the next), and
 * writes every result to `bench/results.json`.
 *
 * Benchmarks report; they never fail a build: a missed target is a FAIL row and a note, and this exits 0.
 * It exits 1 only when a benchmark could not run.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, type BenchmarkResult } from './lib/harness.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** In running order: the lightest first. */
export const BENCHMARKS = ['cold-start', 'warm-token', 'cold-token', 'refresh-throughput'] as const;

function runOne(name: string, argv: string[], resultFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', path.join(BENCH_DIR, `${name}.bench.ts`), ...argv], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_RESULT_FILE: resultFile },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const argv = process.argv.slice(2);
const args = parseArgs(argv);
const unknown = args.only.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}\n`);
  process.exit(2);
}
const selected = BENCHMARKS.filter((name) => args.only.length === 0 || args.only.includes(name));
// Each benchmark parses the same arguments; --only is this runner's.
const passOn: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  if (arg === '--only') i++;
  else if (!arg.startsWith('--only=')) passOn.push(arg);
}

const started = performance.now();
const dir = await mkdtemp(path.join(tmpdir(), 'oauth-broker-bench-'));
const results: BenchmarkResult[] = [];
const failed: string[] = [];
try {
  for (const name of selected) {
    process.stderr.write(`\n== ${name} ==\n`);
    const file = path.join(dir, `${name}.json`);
    const code = await runOne(name, passOn, file);
    try {
      results.push(JSON.parse(await readFile(file, 'utf8')) as BenchmarkResult);
    } catch {
      failed.push(`${name} (exit ${code})`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const output = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpus: cpus().length,
  arguments: argv,
  durationSeconds: (performance.now() - started) / 1000,
  benchmarks: Object.fromEntries(results.map((r) => [r.name, r])),
  failedToRun: failed,
};
const resultsFile = path.join(BENCH_DIR, 'results.json');
await writeFile(resultsFile, `${JSON.stringify(output, null, 2)}\n`);

const rows = results.flatMap((r) => r.rows.map((row) => ({ benchmark: r.name, ...row })));
const misses = rows.filter((row) => row.pass === false);
process.stdout.write(
  `\n== summary: ${results.length} benchmark(s) in ${output.durationSeconds.toFixed(0)} s; ` +
    `${rows.filter((row) => row.pass === true).length} targets met, ${misses.length} missed` +
    `${failed.length ? `; FAILED TO RUN: ${failed.join(', ')}` : ''}; results in ${path.relative(process.cwd(), resultsFile)}\n`,
);
for (const miss of misses) process.stdout.write(`   missed: [${miss.benchmark}] ${miss.metric}\n`);
process.exit(failed.length ? 1 : 0);
