/**
 * Cold start: every Lambda's bundle built with esbuild exactly as the CDK app's `NodejsFunction` builds it
 * (cdk/constructs/functions.ts `createFunction`: ESM, target node24, platform node, minify, linked source map
 * without sources content, the `createRequire` banner, main fields module,main, the project's tsconfig, the
 * AWS SDK bundled), into a temporary directory. For each bundle:
 * - its size: what the broker adds to a bundle of the same AWS SDK clients (below), against a budget;
 * - the time a fresh `node` process takes to `import()` it, with the environment the stack sets
 *   (`NODE_OPTIONS=--enable-source-maps`), against a bundle built the same way that imports only the same
 *   AWS SDK clients and commands (found in the bundle's own sources; a client the sources load with
 *   `import()` is loaded the same way) and a trivial handler.
 * Baseline and broker processes alternate; medians.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { ESM_REQUIRE_BANNER } from '../cdk/broker-stack.js';
import { addedAtMost, atMost, info, median, pairedRatio, progress, row, runBenchmark, summary, type Row } from './lib/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Size budget of each bundle: what the broker adds (minified `index.mjs`, KiB) to the SDK-only bundle of the
 * same function, built in the same run. Not an absolute size: the SDK-only bundle is what the functions'
 * AWS calls cost and moves with the SDK (403 KiB today: DynamoDB, Secrets Manager, the EventBridge client
 * loaded on first signal, and since private_key_jwt the KMS client, ~52 KiB of its own plus its share of
 * the shared parts; 386 KiB for jwks, which has no Secrets Manager client), and the import-time ratio
 * below already judges what the whole bundle costs at cold start. What the broker controls is its own code
 * and libraries (oauth4webapi, Powertools logger and metrics, the signing keys' code, zod/mini where
 * profiles are parsed):
 * - 200 KiB for every function: today 180 (refresh) to 190 (callback: the code exchange); the earlier
 *   absolute budget left ~185 KiB over a ~415 KiB SDK, and the signing keys' own code (lib/keys/, the KMS
 *   adapter, ~20 KiB) came since, in every function that signs;
 * - 120 KiB for `jwks`, which takes the signing keys alone (lib/composition.ts): 105 today; more means it
 *   bundles the broker's context again;
 * - 235 KiB for `profiles`, the one function that parses profiles: 222 today, of which zod/mini (28 KiB) and
 *   lib/profile-input.ts (5 KiB) only it carries.
 * Each function bundles only the use cases it serves (lib/broker.ts); test/unit/lazy-imports.test.ts keeps
 * it so.
 */
export const ADDED_SIZE_BUDGET_KIB: Record<string, number> = {
  token: 200,
  refresh: 200,
  profiles: 235,
  callback: 200,
  'authorize-url': 200,
  jwks: 120,
  keys: 200,
};
const DEFAULT_ADDED_SIZE_BUDGET_KIB = 200;
const addedBudget = (name: string) => ADDED_SIZE_BUDGET_KIB[name] ?? DEFAULT_ADDED_SIZE_BUDGET_KIB;

/** The esbuild options `NodejsFunction` derives from the stack's `bundling` block. */
function cdkBuildOptions(outfile: string): esbuild.BuildOptions {
  return {
    bundle: true,
    target: 'node24',
    platform: 'node',
    format: 'esm',
    outfile,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    tsconfig: path.join(ROOT, 'tsconfig.json'),
    banner: { js: ESM_REQUIRE_BANNER },
    mainFields: ['module', 'main'],
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: ROOT,
  };
}

/** Warns when the stack's bundling block no longer says what `cdkBuildOptions` assumes. */
function checkStackBundling(): string[] {
  const source = readFileSync(path.join(ROOT, 'cdk', 'constructs', 'functions.ts'), 'utf8');
  const expected = [
    /format:\s*OutputFormat\.ESM/,
    /target:\s*'node24'/,
    /mainFields:\s*\['module',\s*'main'\]/,
    /banner:\s*ESM_REQUIRE_BANNER/,
    /minify:\s*true/,
    /sourceMap:\s*true/,
    /sourceMapMode:\s*SourceMapMode\.DEFAULT/,
    /sourcesContent:\s*false/,
    /bundleAwsSDK:\s*true/,
    /NODE_OPTIONS:\s*'--enable-source-maps'/,
  ];
  const missing = expected.filter((re) => !re.test(source)).map((re) => re.source);
  return missing.length ? [`cdk/constructs/functions.ts no longer matches the bundling options assumed here (${missing.join('; ')}): update bench/cold-start.bench.ts.`] : [];
}

/**
 * The named value imports from `@aws-sdk/*` in the project's own sources that went into a bundle, keeping
 * only those whose module esbuild kept in the output (so a command a function never uses, tree-shaken out
 * of its bundle, is not put in its baseline either).
 */
function sdkImports(metafile: esbuild.Metafile): { kept: Map<string, Set<string>>; lazy: string[]; dropped: string[] } {
  const kept = new Map<string, Set<string>>();
  const lazy = new Set<string>();
  const dropped: string[] = [];
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined) ?? Object.values(metafile.outputs)[0]!;
  const inOutput = (name: string) => {
    const files = [`/${name}.js`, ...(name.startsWith('waitUntil') ? [`/waitFor${name.slice('waitUntil'.length)}.js`] : [])];
    return Object.entries(output.inputs).some(([file, { bytesInOutput }]) => bytesInOutput > 0 && files.some((f) => file.endsWith(f)));
  };
  for (const input of Object.keys(metafile.inputs)) {
    if (input.includes('node_modules') || !/\.(ts|js|mjs)$/.test(input)) continue;
    const source = readFileSync(path.join(ROOT, input), 'utf8');
    // Loaded on first use (`import('@aws-sdk/…')`): bundled whole, evaluated lazily; the baseline does the same.
    for (const match of source.matchAll(/(?<!typeof\s)\bimport\(\s*'(@aws-sdk\/[^']+)'\s*\)/g)) lazy.add(match[1]!);
    for (const match of source.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(@aws-sdk\/[^']+)'/g)) {
      if (match[1]) continue;
      const names = match[2]!
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s && !s.startsWith('type '))
        .map((s) => s.split(/\s+as\s+/)[0]!.trim());
      for (const name of names) {
        if (!inOutput(name)) {
          dropped.push(name);
          continue;
        }
        const set = kept.get(match[3]!) ?? new Set<string>();
        set.add(name);
        kept.set(match[3]!, set);
      }
    }
  }
  return { kept, lazy: [...lazy].sort(), dropped: [...new Set(dropped)].sort() };
}

function baselineSource(imports: Map<string, Set<string>>, lazy: readonly string[]): string {
  const lines: string[] = [];
  const all: string[] = [];
  lazy.forEach((pkg, n) => lines.push(`export const loadSdk${n} = () => import('${pkg}');`));
  let i = 0;
  for (const [pkg, names] of [...imports].sort(([a], [b]) => a.localeCompare(b))) {
    const aliased = [...names].sort().map((name) => `${name} as sdk${i++}`);
    lines.push(`import { ${aliased.join(', ')} } from '${pkg}';`);
    all.push(...aliased.map((a) => a.split(' as ')[1]!));
  }
  lines.push(`export const sdk = [${all.join(', ')}];`);
  lines.push("export const handler = async () => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' });");
  return lines.join('\n');
}

const RUNNER = `
import { pathToFileURL } from 'node:url';
const t0 = performance.now();
const m = await import(pathToFileURL(process.argv[2]).href);
const t1 = performance.now();
if (typeof m.handler !== 'function') throw new Error('no handler export');
const mem = process.memoryUsage();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, bootMs: t0, rssMiB: mem.rss / 1048576 }));
`;

interface ImportSample {
  importMs: number;
  bootMs: number;
  rssMiB: number;
}

function timeImport(runner: string, bundle: string, env: NodeJS.ProcessEnv): Promise<ImportSample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`importing ${bundle} failed (${code}): ${err.slice(0, 2000)}`));
      resolve(JSON.parse(out) as ImportSample);
    });
  });
}

/** The environment the stack gives every function (values are placeholders; nothing is called). */
function lambdaEnvironment(sourceMaps: boolean): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: 'oauth-broker-bench',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    BROKER_TABLE_NAME: 'oauth-broker-bench',
    BROKER_CALLBACK_URL: 'https://broker.bench.test/callback',
    BROKER_SECRET_PREFIX: 'oauth-broker',
    BROKER_EVENT_BUS_NAME: 'default',
    POWERTOOLS_SERVICE_NAME: 'oauth-broker',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: 'OAuthBroker',
    ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
  };
}

/** What-if: `zod` (classic or `zod/mini`) replaced by a chainable no-op, to show what the rest of the bundle costs. */
const zodStub: esbuild.Plugin = {
  name: 'zod-stub',
  setup(build) {
    build.onResolve({ filter: /^zod(\/mini)?$/ }, () => ({ path: 'zod-stub', namespace: 'zod-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'zod-stub' }, () => ({
      contents:
        'const chain = new Proxy(function () {}, { get: (_t, p) => (p === Symbol.toPrimitive ? () => "" : chain), apply: () => chain });\n' +
        'export const z = chain; export default chain;',
      loader: 'js',
    }));
  },
};

const kib = (bytes: number) => bytes / 1024;

/** Bytes of the output by package (`node_modules/<pkg>`) or by project directory, largest first. */
function bytesByPackage(metafile: esbuild.Metafile): Array<[string, number]> {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined) ?? Object.values(metafile.outputs)[0]!;
  const sizes = new Map<string, number>();
  for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? `${file.split('/')[0]}/`;
    sizes.set(pkg, (sizes.get(pkg) ?? 0) + bytesInOutput);
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}

await runBenchmark(async (args) => {
  const rounds = args.rounds ?? (args.quick ? 3 : 15);
  const dir = await mkdtemp(path.join(tmpdir(), 'oauth-broker-bench-bundles-'));
  try {
    const runner = path.join(dir, 'runner.mjs');
    await writeFile(runner, RUNNER);
    const lambdas = (await readdir(path.join(ROOT, 'lambdas'))).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')).sort();

    progress(`cold-start: building ${lambdas.length} bundles and their SDK-only baselines with esbuild ${esbuild.version}`);
    const bundles: Array<{
      name: string;
      file: string;
      base: string;
      size: number;
      baseSize: number;
      mapSize: number;
      sdk: string[];
      dropped: string[];
      packages: Array<[string, number]>;
    }> = [];
    for (const name of lambdas) {
      const file = path.join(dir, name, 'index.mjs');
      const built = await esbuild.build({ ...cdkBuildOptions(file), entryPoints: [path.join(ROOT, 'lambdas', `${name}.ts`)] });
      const { kept: imports, lazy, dropped } = sdkImports(built.metafile!);
      const base = path.join(dir, `${name}-sdk-only`, 'index.mjs');
      await esbuild.build({
        ...cdkBuildOptions(base),
        stdin: { contents: baselineSource(imports, lazy), resolveDir: ROOT, sourcefile: `${name}-sdk-only.ts`, loader: 'ts' },
      });
      bundles.push({
        name,
        file,
        base,
        size: (await stat(file)).size,
        baseSize: (await stat(base)).size,
        mapSize: (await stat(`${file}.map`)).size,
        sdk: [...[...imports].map(([pkg, names]) => `${pkg}: ${[...names].sort().join(', ')}`), ...lazy.map((pkg) => `${pkg} (dynamic import())`)],
        dropped,
        packages: bytesByPackage(built.metafile!),
      });
    }
    const token = bundles.find((b) => b.name === 'token') ?? bundles[0]!;
    // Diagnostics for the function that parses profiles (the one bundle with zod in it): its bundle with zod
    // stubbed out, and zod alone (classic and mini).
    const parser = bundles.find((b) => b.packages.some(([pkg]) => pkg === 'zod')) ?? token;
    const noZod = path.join(dir, `${parser.name}-no-zod`, 'index.mjs');
    await esbuild.build({ ...cdkBuildOptions(noZod), entryPoints: [path.join(ROOT, 'lambdas', `${parser.name}.ts`)], plugins: [zodStub] });
    const zodClassic = path.join(dir, 'zod-classic', 'index.mjs');
    await esbuild.build({
      ...cdkBuildOptions(zodClassic),
      stdin: { contents: "import { z } from 'zod'; export const s = z.object({ a: z.string() }); export const handler = async () => s;", resolveDir: ROOT, sourcefile: 'zod-classic.ts', loader: 'ts' },
    });
    const zodMini = path.join(dir, 'zod-mini', 'index.mjs');
    await esbuild.build({
      ...cdkBuildOptions(zodMini),
      stdin: { contents: "import * as z from 'zod/mini'; export const s = z.object({ a: z.string() }); export const handler = async () => s;", resolveDir: ROOT, sourcefile: 'zod-mini.ts', loader: 'ts' },
    });

    progress(`cold-start: ${rounds} alternating rounds of fresh node processes per bundle`);
    const deployed = lambdaEnvironment(true);
    const samples = new Map<string, ImportSample[]>();
    const add = (key: string, sample: ImportSample) => samples.set(key, [...(samples.get(key) ?? []), sample]);
    // Warm the file system cache once.
    for (const b of bundles) {
      await timeImport(runner, b.base, deployed);
      await timeImport(runner, b.file, deployed);
    }
    for (let round = 0; round < rounds; round++) {
      for (const b of bundles) {
        const order = round % 2 === 0 ? (['base', 'broker'] as const) : (['broker', 'base'] as const);
        for (const which of order) add(`${b.name}:${which}`, await timeImport(runner, which === 'base' ? b.base : b.file, deployed));
      }
      const plain = lambdaEnvironment(false);
      const order = round % 2 === 0 ? [0, 1, 2, 3, 4] : [4, 3, 2, 1, 0];
      for (const k of order) {
        if (k === 0) add('token-nosm:base', await timeImport(runner, token.base, plain));
        if (k === 1) add('token-nosm:broker', await timeImport(runner, token.file, plain));
        if (k === 2) add('nozod:broker', await timeImport(runner, noZod, deployed));
        if (k === 3) add('zod-classic', await timeImport(runner, zodClassic, deployed));
        if (k === 4) add('zod-mini', await timeImport(runner, zodMini, deployed));
      }
    }

    const ms = (key: string) => median((samples.get(key) ?? []).map((s) => s.importMs));
    const times = (key: string) => (samples.get(key) ?? []).map((s) => s.importMs);
    const paired = (base: string, broker: string) => pairedRatio(times(base), times(broker));
    const rss = (key: string) => median((samples.get(key) ?? []).map((s) => s.rssMiB));
    const rows: Row[] = [];
    for (const b of bundles) {
      rows.push(row(`${b.name}: bundle size (SDK-only vs broker), broker's own ≤ ${addedBudget(b.name)} KiB`, 'KiB', kib(b.baseSize), kib(b.size), addedAtMost(addedBudget(b.name))));
      rows.push(
        row(`${b.name}: import time in a fresh node process`, 'ms', ms(`${b.name}:base`), ms(`${b.name}:broker`), atMost(1.5), {
          ratio: paired(`${b.name}:base`, `${b.name}:broker`),
        }),
      );
    }
    rows.push(row(`${token.name}: RSS after import`, 'MiB', rss(`${token.name}:base`), rss(`${token.name}:broker`), info));
    rows.push(row(`${token.name}: source map shipped beside the bundle`, 'KiB', null, kib(token.mapSize), info));
    rows.push(
      row(`${token.name}: import time without --enable-source-maps`, 'ms', ms('token-nosm:base'), ms('token-nosm:broker'), info, {
        ratio: paired('token-nosm:base', 'token-nosm:broker'),
      }),
    );
    const noZodSize = (await stat(noZod)).size;
    rows.push(row(`what-if ${parser.name} without zod: size`, 'KiB', kib(parser.baseSize), kib(noZodSize), info));
    rows.push(
      row(`what-if ${parser.name} without zod: import time`, 'ms', ms(`${parser.name}:base`), ms('nozod:broker'), info, {
        ratio: paired(`${parser.name}:base`, 'nozod:broker'),
      }),
    );
    rows.push(row("zod alone: 'zod' (baseline column) vs 'zod/mini' (broker column), size", 'KiB', kib((await stat(zodClassic)).size), kib((await stat(zodMini)).size), info));
    rows.push(row("zod alone: 'zod' vs 'zod/mini', import time", 'ms', ms('zod-classic'), ms('zod-mini'), info));

    const notes = checkStackBundling();
    notes.push(
      `Largest parts of the ${token.name} bundle: ${token.packages.slice(0, 8).map(([pkg, bytes]) => `${pkg} ${kib(bytes).toFixed(0)} KiB`).join(', ')}.`,
    );
    const overBudget = bundles.filter((b) => kib(b.size - b.baseSize) > addedBudget(b.name));
    const slow = bundles.filter((b) => paired(`${b.name}:base`, `${b.name}:broker`) > 1.5);
    if (overBudget.length || slow.length) {
      notes.push(
        `Targets missed (${[...overBudget.map((b) => `${b.name} size`), ...slow.map((b) => `${b.name} import`)].join(', ')}). ` +
          `The schema library (lib/profile-input.ts, zod/mini) accounts for ${(kib(parser.size - noZodSize)).toFixed(0)} KiB of the ${kib(parser.size).toFixed(0)} KiB ${parser.name} bundle; ` +
          `without it the ${parser.name} bundle imports in ${ms('nozod:broker').toFixed(0)} ms (${paired(`${parser.name}:base`, 'nozod:broker').toFixed(2)}× the SDK-only bundle) ` +
          `and weighs ${kib(noZodSize).toFixed(0)} KiB. Look at the largest parts above for what grew.`,
      );
    }
    return {
      name: 'cold-start',
      title: 'Cold start: Lambda bundles as the CDK app builds them vs bundles of the same AWS SDK clients only',
      setup: [
        `esbuild ${esbuild.version} with the NodejsFunction options of cdk/constructs/functions.ts (ESM, node24, minify, source map, banner, SDK bundled); ${rounds} alternating rounds, one fresh node process per import, medians (ratio: median of per-round ratios of adjacent processes).`,
        `Measured on Node ${process.version} ${process.arch}; the functions run nodejs24.x on arm64, so the ratios carry over, the milliseconds do not.`,
        `SDK-only baselines import what the bundle's own sources import from @aws-sdk and esbuild kept; for ${token.name}: ${token.sdk.join('; ')}` +
          (token.dropped.length ? ` (imported but tree-shaken, left out: ${token.dropped.join(', ')}).` : '.'),
      ],
      rows,
      notes,
      memoryNote: 'of the benchmark process (esbuild runs in its own process); RSS of the imports is in the table',
      details: {
        bundles: bundles.map((b) => ({
          name: b.name,
          bytes: b.size,
          sdkOnlyBytes: b.baseSize,
          sourceMapBytes: b.mapSize,
          sdk: b.sdk,
          treeShaken: b.dropped,
          largest: b.packages.slice(0, 15).map(([pkg, bytes]) => ({ pkg, bytes })),
        })),
        samples: Object.fromEntries([...samples].map(([k, v]) => [k, summary(v.map((s) => s.importMs))])),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
