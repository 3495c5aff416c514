/**
 * What `npm start` prints: human log lines on stderr by default (JSON only with
 * BROKER_LOG_FORMAT=json), a user's mistake not at ERROR, `--verbose` for INFO, and the banner naming the
 * demo server's client for your own profiles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OWN_PROFILE_CLIENT } from '../../../lib/local/demo-authorization-server.js';
import { runMain, tempDataDir, type MainProcess } from './support.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(env: Record<string, string>, args: string[] = []): Promise<{ main: MainProcess; url: string }> {
  const data = await tempDataDir();
  cleanups.push(() => data.remove());
  const main = runMain({ BROKER_PORT: '0', BROKER_DEMO: '0', BROKER_DATA_DIR: data.dir, ...env }, args);
  cleanups.push(async () => {
    if (main.child.exitCode === null) {
      main.child.kill('SIGINT');
      await main.exited;
    }
  });
  const [, url] = await main.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
  await main.waitForLine(/Press Ctrl-C to stop\./);
  return { main, url: url as string };
}

/** A user's mistake: an issuer nobody answers at, then an authorization URL for it (503). */
async function mistypedIssuer(url: string): Promise<void> {
  const put = await fetch(`${url}/profiles/typo`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ issuer: 'http://127.0.0.1:1', clientId: 'c', clientSecret: 'typo-secret-value' }),
  });
  expect(put.status).toBe(201);
  expect((await fetch(`${url}/profiles/typo/authorize-url`)).status).toBe(503);
  const refused = await fetch(`${url}/profiles/nobody`);
  expect(refused.status).toBe(404);
}

async function settled(main: MainProcess): Promise<void> {
  main.child.kill('SIGINT');
  await main.exited;
}

describe('npm start output', () => {
  it('prints human log lines on stderr by default; a mistyped issuer is WARN, not ERROR; no JSON anywhere', async () => {
    const { main, url } = await start({});
    await mistypedIssuer(url);
    await settled(main);

    const stderr = main.stderr();
    expect(stderr).toMatch(/^\d\d:\d\d:\d\d WARN {2}authorization server discovery failed {2}issuer=http:\/\/127\.0\.0\.1:1 /m);
    expect(stderr).toMatch(/^\d\d:\d\d:\d\d WARN {2}request failed for now {2}errorName=BrokerError errorCode=temporarily_unavailable /m);
    expect(stderr).not.toMatch(/ERROR/);
    expect(stderr).not.toContain('typo-secret-value');
    // 4xx and INFO entries are below the default level.
    expect(stderr).not.toMatch(/INFO|request refused/);
    for (const text of [main.stdout(), stderr]) expect(text).not.toMatch(/^\{"level"/m);
  });

  it('--verbose adds INFO lines, the user mistakes among them', async () => {
    const { main, url } = await start({}, ['--verbose']);
    await mistypedIssuer(url);
    await settled(main);
    expect(main.stderr()).toMatch(/^\d\d:\d\d:\d\d INFO {2}profile saved {2}profileId=typo created=true /m);
    expect(main.stderr()).toMatch(/^\d\d:\d\d:\d\d INFO {2}request refused {2}errorCode=not_found$/m);
    expect(main.stderr()).not.toMatch(/ERROR/);
  });

  it('BROKER_LOG_FORMAT=json writes the structured JSON lines instead', async () => {
    const { main, url } = await start({ BROKER_LOG_FORMAT: 'json' });
    await mistypedIssuer(url);
    await settled(main);
    const entries = `${main.stdout()}\n${main.stderr()}`
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; message: string });
    expect(entries).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'request failed for now' }));
    expect(entries.some((entry) => entry.level === 'ERROR')).toBe(false);
  });

  it('refuses a bad log format or argument with exit 2', async () => {
    const data = await tempDataDir();
    cleanups.push(() => data.remove());
    const format = runMain({ BROKER_PORT: '0', BROKER_DEMO: '0', BROKER_DATA_DIR: data.dir, BROKER_LOG_FORMAT: 'pretty' });
    expect((await format.exited).code).toBe(2);
    expect(format.stderr()).toContain('BROKER_LOG_FORMAT must be human or json; got "pretty"');
    const argument = runMain({ BROKER_PORT: '0', BROKER_DEMO: '0', BROKER_DATA_DIR: data.dir }, ['--verbos']);
    expect((await argument.exited).code).toBe(2);
    expect(argument.stderr()).toContain('unknown argument "--verbos": npm start takes only --verbose');
  });

  it('the banner names the demo server\'s client for your own profiles', async () => {
    const { main } = await start({ BROKER_DEMO: '1', BROKER_DEMO_PORT: '0' });
    const issuer = /Demo authorization server on (http:\/\/127\.0\.0\.1:\d+)/.exec(main.stdout())?.[1];
    expect(issuer).toBeDefined();
    expect(main.stdout()).toContain(`issuer ${issuer}   client id ${OWN_PROFILE_CLIENT.clientId}   client secret ${OWN_PROFILE_CLIENT.clientSecret}`);
    expect(main.stdout()).toContain('docs/local-mode.md, "Your own profile"');
  });
});
