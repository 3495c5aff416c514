import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runProcess, type Finished } from '../../support/run-process.js';
import { makeView, readyStatus, startFakeAdminBroker, type FakeAdminBroker } from './fake-admin-broker.js';

const BIN = fileURLToPath(new URL('../../../bin/oauth-broker.js', import.meta.url));
/** Where a compiled CLI would be after a `tsc` build of the repository. */
const DIST = fileURLToPath(new URL('../../../dist', import.meta.url));
const COMPILED = fileURLToPath(new URL('../../../dist/lib/cli/main.js', import.meta.url));

function exec(args: string[], env: Record<string, string>): Promise<Finished> {
  return runProcess(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 20_000 });
}

let broker: FakeAdminBroker;
beforeEach(async () => {
  broker = await startFakeAdminBroker([makeView('demo', readyStatus())]);
});
afterEach(async () => {
  await broker.close();
});

describe('bin/oauth-broker.js', () => {
  it('runs the CLI and exits with its code', async () => {
    const ok = await exec(['token', 'demo'], { BROKER_URL: broker.url });
    expect(ok).toEqual({ code: 0, stdout: 'token-demo\n', stderr: '' });

    const usage = await exec(['token'], { BROKER_URL: broker.url });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('"token" needs <id>');
  });

  it('always runs the source: a compiled copy in dist/ is never picked up', async () => {
    const planted = !existsSync(COMPILED);
    const distPlanted = !existsSync(DIST);
    if (planted) {
      await mkdir(dirname(COMPILED), { recursive: true });
      await writeFile(COMPILED, "export async function main() { process.stdout.write('stale compiled copy\\n'); return 0; }\n");
    }
    try {
      const ran = await exec(['token', 'demo'], { BROKER_URL: broker.url });
      expect(ran).toEqual({ code: 0, stdout: 'token-demo\n', stderr: '' });
    } finally {
      if (planted) await rm(distPlanted ? DIST : COMPILED, { recursive: true, force: true });
    }
  });
});
