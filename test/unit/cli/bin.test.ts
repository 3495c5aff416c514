import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeView, readyStatus, startFakeAdminBroker, type FakeAdminBroker } from './fake-admin-broker.js';

const BIN = fileURLToPath(new URL('../../../bin/oauth-broker.js', import.meta.url));

function exec(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
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
});
