#!/usr/bin/env node
// The `oauth-broker` admin CLI. Runs the compiled CLI (dist/, after `npm run build`) when present,
// else the TypeScript source through tsx (a development checkout).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/lib/cli/main.js', import.meta.url));
let entry;
if (existsSync(compiled)) {
  entry = pathToFileURL(compiled).href;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../lib/cli/main.ts', import.meta.url).href;
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
