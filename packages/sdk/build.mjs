// Builds the package from the SDK's sources in lib/sdk (shared with the admin CLI, so they live there):
// one ES module bundle (dist/index.js, dependencies left external) and its type declarations (dist/types).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);
const pkg = require('./package.json');

rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

const { build } = await import('esbuild');
await build({
  entryPoints: [fileURLToPath(new URL('../../lib/sdk/index.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('./dist/index.js', import.meta.url)),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  external: Object.keys(pkg.dependencies),
  logLevel: 'warning',
});

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: here, stdio: 'inherit' });
