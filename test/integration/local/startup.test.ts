/**
 * Starting and stopping local mode: settings from the environment, a taken port, a data directory in use,
 * and `lib/local/main.ts` as a process (what `npm start` runs): clear errors and exit codes, the printed
 * base URL, and a Ctrl-C that stops cleanly without losing what was written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_DATA_DIR,
  LocalConfigurationError,
  LocalStartupError,
  readLocalOptions,
  startLocalBroker,
  type LocalBroker,
} from '../../../lib/local/local-broker.js';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileVault } from '../../../lib/adapters/file-vault.js';
import { holdPort, runMain, tempDataDir } from './support.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function dataDir(): Promise<string> {
  const data = await tempDataDir();
  cleanups.push(() => data.remove());
  return data.dir;
}

async function started(options: Parameters<typeof startLocalBroker>[0]): Promise<LocalBroker> {
  const local = await startLocalBroker({ demo: false, refreshOnStart: false, ...options });
  cleanups.push(() => local.close());
  return local;
}

async function failure(work: () => Promise<unknown>): Promise<LocalStartupError> {
  try {
    await work();
  } catch (error) {
    expect(error).toBeInstanceOf(LocalStartupError);
    return error as LocalStartupError;
  }
  throw new Error('expected startLocalBroker to fail');
}

describe('readLocalOptions', () => {
  it('has the documented defaults', () => {
    expect(readLocalOptions({})).toEqual({
      port: 8787,
      dataDir: path.resolve(DEFAULT_DATA_DIR),
      refreshIntervalSeconds: 60,
      demo: true,
      demoPort: 8788,
    });
  });

  it('reads every variable', () => {
    expect(
      readLocalOptions({ BROKER_PORT: '0', BROKER_DATA_DIR: '/tmp/x', BROKER_REFRESH_INTERVAL_SECONDS: '5', BROKER_DEMO: '0', BROKER_DEMO_PORT: '9000' }),
    ).toEqual({ port: 0, dataDir: '/tmp/x', refreshIntervalSeconds: 5, demo: false, demoPort: 9000 });
    expect(readLocalOptions({ BROKER_DEMO: '1' }).demo).toBe(true);
  });

  it.each([
    ['BROKER_PORT', 'abc'],
    ['BROKER_PORT', '70000'],
    ['BROKER_DEMO_PORT', '-1'],
    ['BROKER_REFRESH_INTERVAL_SECONDS', '0'],
    ['BROKER_REFRESH_INTERVAL_SECONDS', '1.5'],
    ['BROKER_DEMO', 'maybe'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    expect(() => readLocalOptions({ [name]: value })).toThrow(LocalConfigurationError);
    expect(() => readLocalOptions({ [name]: value })).toThrow(name);
  });
});

describe('startLocalBroker', () => {
  it('fails clearly on a taken port, naming the port and BROKER_PORT, and leaves nothing behind', async () => {
    const held = await holdPort();
    cleanups.push(() => held.release());
    const dir = await dataDir();
    const error = await failure(() => startLocalBroker({ port: held.port, dataDir: dir, demo: false }));
    expect(error.reason).toBe('port_in_use');
    expect(error.message).toContain(`Port ${held.port} on 127.0.0.1 is already in use`);
    expect(error.message).toContain('BROKER_PORT');
    // The data directory is free again: a broker starts on it at once.
    const local = await started({ port: 0, dataDir: dir });
    expect((await fetch(`${local.url}/profiles`)).status).toBe(200);
  });

  it('refuses a second broker on the same data directory', async () => {
    const dir = await dataDir();
    await started({ port: 0, dataDir: dir });
    const error = await failure(() => startLocalBroker({ port: 0, dataDir: dir, demo: false }));
    expect(error.reason).toBe('data_dir_in_use');
    expect(error.message).toContain('BROKER_DATA_DIR');
  });

  it('takes over the lock of a broker that no longer runs', async () => {
    const dir = await dataDir();
    // A pid that cannot be running.
    await writeFile(path.join(dir, 'broker.lock'), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const local = await started({ port: 0, dataDir: dir });
    expect(local.dataDir).toBe(dir);
  });

  it('fails clearly when the demo port is taken, naming BROKER_DEMO_PORT, and frees the broker port', async () => {
    const held = await holdPort();
    cleanups.push(() => held.release());
    const free = await holdPort();
    const port = free.port;
    await free.release();
    const dir = await dataDir();
    const error = await failure(() => startLocalBroker({ port, dataDir: dir, demo: true, demoPort: held.port }));
    expect(error.reason).toBe('demo_port_in_use');
    expect(error.message).toContain(`Port ${held.port}`);
    expect(error.message).toContain('BROKER_DEMO_PORT');
    expect(error.message).toContain('BROKER_DEMO=0');
    const again = await started({ port, dataDir: dir });
    expect(again.port).toBe(port);
  });

  it('close() is idempotent and removes the lock', async () => {
    const dir = await dataDir();
    const local = await startLocalBroker({ port: 0, dataDir: dir, demo: false });
    await Promise.all([local.close(), local.close()]);
    await local.close();
    expect(existsSync(path.join(dir, 'broker.lock'))).toBe(false);
  });
});

describe('lib/local/main.ts as a process', () => {
  it('exits 1 with a clear message when the port is taken', async () => {
    const held = await holdPort();
    cleanups.push(() => held.release());
    const dir = await dataDir();
    const main = runMain({ BROKER_PORT: String(held.port), BROKER_DATA_DIR: dir, BROKER_DEMO: '0' });
    const { code } = await main.exited;
    expect(code).toBe(1);
    expect(main.stderr()).toContain(`Port ${held.port} on 127.0.0.1 is already in use`);
    expect(main.stderr()).toContain('BROKER_PORT');
    expect(main.stdout()).not.toContain('listening');
  });

  it('exits 2 on a bad setting', async () => {
    const main = runMain({ BROKER_PORT: 'eighty', BROKER_DEMO: '0', BROKER_DATA_DIR: await dataDir() });
    expect((await main.exited).code).toBe(2);
    expect(main.stderr()).toContain('BROKER_PORT must be a port number');
  });

  it('prints the base URL, serves the API, and on SIGINT stops cleanly (exit 0) keeping what was written', async () => {
    const dir = await dataDir();
    const main = runMain({ BROKER_PORT: '0', BROKER_DATA_DIR: dir, BROKER_DEMO: '0' });
    cleanups.push(async () => {
      if (main.child.exitCode === null) main.child.kill('SIGKILL');
    });
    const [, url] = await main.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    await main.waitForLine(/Press Ctrl-C to stop\./);
    expect(main.stdout()).toContain(`${url}/callback`);
    expect(main.stdout()).not.toMatch(/"level"|NodeVersionSupportWarning/);

    const put = await fetch(`${url}/profiles/kept`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ authorizationUrl: 'https://as.example/authorize', tokenUrl: 'https://as.example/token', clientId: 'c', clientSecret: 'kept-secret' }),
    });
    expect(put.status).toBe(201);

    main.child.kill('SIGINT');
    const { code } = await main.exited;
    expect(main.stdout()).toContain('Stopped.');
    expect(main.stderr()).toBe('');
    expect(code).toBe(0);
    expect(existsSync(path.join(dir, 'broker.lock'))).toBe(false);

    const local = await started({ port: 0, dataDir: dir });
    const view = (await (await fetch(`${local.url}/profiles/kept`)).json()) as { clientId: string; hasClientSecret: boolean };
    expect(view).toMatchObject({ clientId: 'c', hasClientSecret: true });
    expect(await new FileVault({ dir: path.join(dir, 'vault') }).getClientSecret('kept')).toBe('kept-secret');
  });
});
