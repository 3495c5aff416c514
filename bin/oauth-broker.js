#!/usr/bin/env node
// The `oauth-broker` admin CLI of a checkout (`npx oauth-broker`, `node bin/oauth-broker.js`). It always
// runs the TypeScript source, lib/cli/main.ts, through tsx, never a compiled copy in dist/ that could be
// out of date with the checkout (docs/cli.md "Running the CLI").
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  process.stderr.write('oauth-broker: the CLI runs from a checkout with its development dependencies: run "npm install" first.\n');
  process.exit(1);
}
register();
const { main } = await import(new URL('../lib/cli/main.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
