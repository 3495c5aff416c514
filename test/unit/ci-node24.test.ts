/**
 * .ci/use-node24 (sourced by .ci/run): on a machine whose node is older than 24 it installs the npm
 * registry's `node@24` package once into a cache directory and puts its binary first on PATH; with Node 24
 * already there it changes nothing. Fake `node` and `npm` executables stand in for the machine and the
 * registry, and record how they were called.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runProcess } from '../support/run-process.js';

const SCRIPT = fileURLToPath(new URL('../../.ci/use-node24', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'oauth-broker-node24-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake `node` reporting `version`: answers `-v`, `-p` (the major version) and `-e` (a version check). */
function fakeNode(version: string): string {
  const major = version.replace(/^v/, '').split('.')[0];
  return `#!/bin/sh
case "$1" in
  -v) echo ${version} ;;
  -p) echo ${major} ;;
  -e) [ "${major}" = "24" ] ;;
esac
`;
}

async function executable(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  await chmod(file, 0o755);
}

/** Sources the script with `bin` first on PATH; answers the node it leaves on PATH and the npm calls. */
async function source(bin: string, prefix: string): Promise<{ code: number; node: string; stderr: string; npmCalls: string }> {
  const { code, stdout, stderr } = await runProcess('/bin/bash', ['-c', `set -euo pipefail; source "${SCRIPT}"; command -v node; node -v`], {
    env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, OAUTH_BROKER_NODE24_PREFIX: prefix },
  });
  const npmCalls = await readFile(path.join(dir, 'npm-calls'), 'utf8').catch(() => '');
  return { code, node: stdout.trim(), stderr, npmCalls };
}

describe('.ci/use-node24', () => {
  it('on Node 20, installs node@24 into the prefix once and puts it first on PATH', async () => {
    const bin = path.join(dir, 'bin');
    const prefix = path.join(dir, 'cache', 'node24');
    await executable(path.join(bin, 'node'), fakeNode('v20.20.2'));
    // The registry's `node` package: installs a node binary under <prefix>/node_modules/node/bin.
    await executable(
      path.join(bin, 'npm'),
      `#!/bin/sh
echo "$*" >> "${dir}/npm-calls"
case "$1" in
  -v) echo 11.0.0 ;;
  install) p=""; for a in "$@"; do [ "$prev" = "--prefix" ] && p="$a"; prev="$a"; done; mkdir -p "$p/node_modules/node/bin" && cat "${dir}/node24" > "$p/node_modules/node/bin/node" && chmod 755 "$p/node_modules/node/bin/node" ;;
esac
`,
    );
    await writeFile(path.join(dir, 'node24'), fakeNode('v24.21.0'));

    const first = await source(bin, prefix);
    expect(first.code, first.stderr).toBe(0);
    expect(first.node.split('\n')).toEqual([path.join(prefix, 'node_modules/node/bin/node'), 'v24.21.0']);
    expect(first.stderr).toContain('is older than 24: fetching node@24');
    expect(first.npmCalls).toContain(`install --no-save --no-audit --no-fund --no-package-lock --prefix ${prefix} node@24`);

    // Cached: the second run installs nothing.
    await rm(path.join(dir, 'npm-calls'));
    const second = await source(bin, prefix);
    expect(second.node.split('\n')[1]).toBe('v24.21.0');
    expect(second.npmCalls).not.toContain('install');
  });

  it('on Node 24, changes nothing', async () => {
    const bin = path.join(dir, 'bin');
    await executable(path.join(bin, 'node'), fakeNode('v24.3.0'));
    await executable(path.join(bin, 'npm'), `#!/bin/sh\necho "$*" >> "${dir}/npm-calls"\necho 11.0.0\n`);
    const ran = await source(bin, path.join(dir, 'unused'));
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.node.split('\n')).toEqual([path.join(bin, 'node'), 'v24.3.0']);
    expect(ran.npmCalls).not.toContain('install');
  });
});
