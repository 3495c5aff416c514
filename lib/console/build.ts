/**
 * `npm run build`, after tsc: writes the console's bundle to `dist/console`, where the compiled
 * `lib/console/assets.js` serves it from (no esbuild needed at run time).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleConsole, CONSOLE_SOURCE_DIR } from './assets.js';

const out = path.resolve(CONSOLE_SOURCE_DIR, '../dist/console');
const files = await bundleConsole();
await mkdir(out, { recursive: true });
for (const [name, file] of files) await writeFile(path.join(out, name), file.body);
process.stdout.write(`console: wrote ${[...files.keys()].join(', ')} to ${path.relative(process.cwd(), out) || out}\n`);
