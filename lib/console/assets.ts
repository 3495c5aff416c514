/**
 * The console's files (docs/console.md) and the headers they are served with. Owns bundling: from a
 * source checkout the TypeScript in `console/src` is bundled with esbuild once per process, in memory;
 * compiled (`npm run build`), the bundle written to `dist/console` by `lib/console/build.ts` is read.
 * Shared by local mode's routes and by `oauth-broker console`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleFile {
  contentType: string;
  body: Buffer;
}

/** The console's files by their path under `/console/`; `index.html` is the page itself. */
export type ConsoleFiles = ReadonlyMap<string, ConsoleFile>;

/**
 * docs/api.md "Console": nothing but this origin's own script, style and API; no inline code, no framing,
 * no third-party origin.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONSOLE_CSP,
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Compiled, this module is `dist/lib/console/assets.js` and the bundle sits in `dist/console`. */
const COMPILED = import.meta.url.endsWith('.js');
export const CONSOLE_SOURCE_DIR = path.resolve(HERE, COMPILED ? '../../../console' : '../../console');
const PREBUILT_DIR = path.resolve(HERE, '../../console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The files `npm run build` writes and the server serves. */
export const CONSOLE_FILE_NAMES = ['index.html', 'app.js', 'app.css', 'favicon.svg'] as const;

/** Bundles the console from its sources (esbuild, loaded only here: it is a build tool). */
export async function bundleConsole(sourceDir: string = CONSOLE_SOURCE_DIR): Promise<Map<string, ConsoleFile>> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { app: path.join(sourceDir, 'src/main.ts'), 'app-style': path.join(sourceDir, 'styles.css') },
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
    outdir: 'out',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = new Map<string, ConsoleFile>();
  for (const output of result.outputFiles) {
    const name = path.basename(output.path) === 'app-style.css' ? 'app.css' : path.basename(output.path);
    files.set(name, { contentType: TYPES[path.extname(name)] ?? 'application/octet-stream', body: Buffer.from(output.contents) });
  }
  for (const name of ['index.html', 'favicon.svg']) {
    files.set(name, { contentType: TYPES[path.extname(name)]!, body: await readFile(path.join(sourceDir, name)) });
  }
  return files;
}

async function readPrebuilt(dir: string): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  for (const name of CONSOLE_FILE_NAMES) {
    files.set(name, { contentType: TYPES[path.extname(name)]!, body: await readFile(path.join(dir, name)) });
  }
  return files;
}

let cached: Promise<ConsoleFiles> | undefined;

/** The console's files, made once per process; a failed attempt is retried on the next call. */
export function consoleFiles(): Promise<ConsoleFiles> {
  cached ??= (COMPILED ? readPrebuilt(PREBUILT_DIR).catch(() => bundleConsole()) : bundleConsole()).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/** What the console's server answers for a path: its files, the page, `/` redirected to it. */
export interface ConsoleAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The answer for `GET pathname` when it is the console's, else `undefined`. `config` is served as
 * `/console/config.json` (where the page is connected; never a secret).
 */
export async function consoleAnswer(pathname: string, config: object): Promise<ConsoleAnswer | undefined> {
  if (pathname === '/' || pathname === '/console/') {
    return { statusCode: 302, headers: { ...CONSOLE_HEADERS, Location: '/console', 'Content-Type': 'text/plain; charset=utf-8' }, body: Buffer.from('See /console\n') };
  }
  if (pathname === '/console/config.json') {
    return { statusCode: 200, headers: { ...CONSOLE_HEADERS, 'Content-Type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify(config)) };
  }
  const name = pathname === '/console' ? 'index.html' : pathname.startsWith('/console/') ? pathname.slice('/console/'.length) : undefined;
  if (name === undefined) return undefined;
  const file = (await consoleFiles()).get(name);
  if (!file) return undefined;
  return { statusCode: 200, headers: { ...CONSOLE_HEADERS, 'Content-Type': file.contentType }, body: file.body };
}
